import { httpScenarios } from '@jetstream/http-scenarios'
import { startScenarioApp } from './test-support/scenario-app.js'

httpScenarios('Koa', startScenarioApp)
