import { answerTable, endToEnd, pgliteStore } from '@jetstream/http-scenarios'
import { startScenarioApp } from './test-support/scenario-app.js'

endToEnd('Hono', startScenarioApp, pgliteStore)
answerTable('Hono', startScenarioApp, { store: pgliteStore })
