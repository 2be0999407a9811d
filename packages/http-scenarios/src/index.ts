export { answerTable } from './answer-table.js'
export { endToEnd } from './end-to-end.js'
export type { Permission, Post, ScenarioSetup, User } from './fixture.js'
export {
  createSetup,
  limitedRoute,
  permissions,
  SwitchableStore,
  sharedLimitedRoute,
  thrownError,
} from './fixture.js'
export { pgliteStore } from './pglite-store.js'
export type { AppAuth } from './policies.js'
export { posts } from './policies.js'
export type { RunningApp, StartApp } from './scenarios.js'
export { httpScenarios } from './scenarios.js'
