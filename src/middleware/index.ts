// index.ts: `tsgi/middleware`, the middleware library. Each is also
// exported from the package root.
export { compose } from './compose.js';
export { compress, negotiate, type Coding, type CompressOptions } from './compress.js';
export { errorPage, escapeHtml, type ErrorPageOptions } from './error-page.js';
export { staticFiles, type StaticFilesOptions } from './static-files.js';
export { urlMap } from './url-map.js';
export { validate, ValidationError, type ValidateOptions } from './validate.js';
export type { Middleware } from '../types.js';
