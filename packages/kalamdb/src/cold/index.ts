export { ParquetCodecError, decodeParquet, encodeParquet } from './parquet.js';
export type { ColdColumn, ColdRow } from './parquet.js';
export { ColdStore, ColdStoreError, mergeLatest, pkKey } from './store.js';
export type { ColdFile, ColdFileWithRows, ColdScope, ColdScopeDump } from './store.js';
export { pastCutoff, seqFloor } from './retention.js';
export type { Cutoffs } from './retention.js';
export { COLD_LIMITS } from './limits.js';
