// native.mjs: the tsgi native server (the addon on Node's loop) serving
// bench/apps/tsgi-app.mjs: the server the targets are about.
import { tsgiServer } from './define.mjs';

export default tsgiServer({ id: 'native', label: 'tsgi native', short: 'native', server: 'native' });
