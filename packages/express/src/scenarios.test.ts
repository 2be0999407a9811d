import { answerTable, httpScenarios } from '@jetstream/http-scenarios'
import { startScenarioApp } from './test-support/scenario-app.js'

httpScenarios('Express', startScenarioApp)
// The same scenarios with the verification cache on: it may never change an answer.
httpScenarios('Express', startScenarioApp, { cache: true })
answerTable('Express', startScenarioApp)
