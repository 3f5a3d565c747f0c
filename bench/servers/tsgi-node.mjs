// tsgi-node.mjs: the tsgi reference server (on node:http) serving
// bench/apps/tsgi-app.mjs: the base of the /ref columns.
import { tsgiServer } from './define.mjs';

export default tsgiServer({ id: 'node', label: 'tsgi node', short: 'tsgi-node', server: 'node' });
