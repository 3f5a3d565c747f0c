// native-workers.mjs: the native server under the supervisor with two
// worker threads (`--workers 2`), each with its own loop and SO_REUSEPORT
// listener. On a 2-core machine wrk competes with both workers for the
// cores: read its figures with that caveat.
import { variant } from './define.mjs';
import native from './native.mjs';

export default variant(native, { id: 'native-w2', label: 'tsgi native, 2 workers', short: 'native-w2', flags: ['--workers', '2'] });
