'use strict';
// postinstall: make sure a latchkey binary exists. Nothing to do when LATCHKEY_BIN is set, the
// Python package installed one, or one is on PATH. Otherwise, when this package sits in a
// checkout of latchkey (`npm install ./js`) and cargo is available, build the release binary
// there. The install never fails because of this step: without a binary, startLatchkey() tries
// the build itself and then says how to get one. LATCHKEY_SKIP_BUILD=1 skips the build.

const { findBinary } = require('./index.js');

try {
  console.log(`latchkey-server: using ${findBinary({ build: !process.env.LATCHKEY_SKIP_BUILD })}`);
} catch (error) {
  console.warn(error.message);
}
