export { JOB_TYPES, JobManager, testStepDelayMs } from './manager.js';
export type { JobLog, JobManagerOptions, JobType } from './manager.js';
export { JOBS_LIMITS } from './limits.js';
export { checkCron, dueBetween, nextDue, scheduledJobId, ScheduleError } from './schedule.js';
export { cutoffsOf } from './rewrite.js';
