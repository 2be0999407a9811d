import { answerTable, endToEnd, pgliteStore } from '@jetstream/http-scenarios'
import { startScenarioApp } from './test-support/scenario-app.js'

endToEnd('Koa', startScenarioApp, pgliteStore)
answerTable('Koa', startScenarioApp, { store: pgliteStore })
