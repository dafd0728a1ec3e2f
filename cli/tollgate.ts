// Process entry of the `tollgate` command (bin/tollgate.js loads the compiled form).
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
