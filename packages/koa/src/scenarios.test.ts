import { answerTable, httpScenarios } from '@jetstream/http-scenarios'
import { startScenarioApp } from './test-support/scenario-app.js'

httpScenarios('Koa', startScenarioApp)
// The same scenarios with the verification cache on: it may never change an answer.
httpScenarios('Koa', startScenarioApp, { cache: true })
answerTable('Koa', startScenarioApp)
