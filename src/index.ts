// index.ts: the public exports of tsgi, and nothing else.
export type {
  Application,
  BoundAddress,
  Chunk,
  Environ,
  ErrorStream,
  FileWrapper,
  FileWrapperFactory,
  FileWrapperOptions,
  Header,
  InputStream,
  Middleware,
  ResponseBody,
  Server,
  ServeOptions,
  ServerKind,
  StartResponse,
  SupervisorOptions,
  WriteFunction,
} from './types.js';
export { serve } from './serve.js';
export { supervise, type Supervisor } from './supervisor/supervisor.js';
export { stderrLogger, type LifecycleEvent, type SupervisorLogger } from './supervisor/events.js';
export { onReopenLogs, publish } from './supervisor/hooks.js';
export { fileWrapper } from './gateway/file-wrapper.js';
export { validate, ValidationError, type ValidateOptions } from './middleware/validate.js';
export { fromFetchHandler, type FetchHandler, type FromFetchHandlerOptions } from './adapters/fetch-handler.js';
export { toFetchHandler, type RemoteAddress, type ToFetchHandlerOptions, type TsgiFetchHandler } from './adapters/to-fetch-handler.js';
export { toNodeListener, type NodeListener, type NodeListenerOptions } from './adapters/node-listener.js';
export { runCgi, type CgiOptions } from './adapters/cgi.js';
export {
  compose,
  compress,
  errorPage,
  staticFiles,
  urlMap,
  type Coding,
  type CompressOptions,
  type ErrorPageOptions,
  type StaticFilesOptions,
} from './middleware/index.js';
