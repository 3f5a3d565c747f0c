// index.ts: the public exports of tsgi, and nothing else.
export type {
  Application,
  Chunk,
  Environ,
  ErrorStream,
  FileWrapper,
  FileWrapperFactory,
  FileWrapperOptions,
  Header,
  InputStream,
  ResponseBody,
  Server,
  ServeOptions,
  ServerKind,
  StartResponse,
  WriteFunction,
} from './types.js';
export { serve } from './serve.js';
export { fileWrapper } from './gateway/file-wrapper.js';
export { validate, ValidationError, type ValidateOptions } from './middleware/validate.js';
