import { answerTable, httpScenarios } from '@jetstream/http-scenarios'
import { startScenarioApp } from './test-support/scenario-app.js'

httpScenarios('Hono', startScenarioApp)
// The same scenarios with the verification cache on: it may never change an answer.
httpScenarios('Hono', startScenarioApp, { cache: true })
answerTable('Hono', startScenarioApp)
