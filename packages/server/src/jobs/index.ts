export { JOB_TYPES, JobManager, testSwitches } from './manager.js';
export type { JobLog, JobManagerOptions, JobType, TestSwitches } from './manager.js';
export { JOBS_LIMITS } from './limits.js';
export { cutoffsOf } from './rewrite.js';
// The cron helpers live in kalamdb (the SQL planner validates schedules with them); re-exported for the server's API.
export { checkCron, dueBetween, nextDue, scheduledJobId, ScheduleError } from '@kalam/kalamdb';
