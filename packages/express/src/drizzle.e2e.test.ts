import { answerTable, endToEnd, pgliteStore } from '@jetstream/http-scenarios'
import { startScenarioApp } from './test-support/scenario-app.js'

endToEnd('Express', startScenarioApp, pgliteStore)
answerTable('Express', startScenarioApp, { store: pgliteStore })
