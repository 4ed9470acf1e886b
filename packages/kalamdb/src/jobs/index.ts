export { JOB_TYPES, JobManager } from './manager.js';
export type { JobLog, JobManagerOptions, JobType, TestSwitches } from './manager.js';
export { JOBS_LIMITS } from './limits.js';
export { cutoffsOf } from './rewrite.js';
