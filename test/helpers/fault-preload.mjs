// Preloaded into a CLI child process (`node --import this-file bin/sbert-train.js ...`) by
// test/fault-injection.test.ts: a file system that fails at the k-th write. Every JS write to a
// file under SBERT_FAULT_UNDER (writeSync on an fd opened there, writeFileSync, appendFileSync)
// is counted; with SBERT_FAULT_WRITE_AT=k the k-th one fails with SBERT_FAULT_CODE (ENOSPC or
// EFBIG), shaped as Node shapes it (writeSync reports no path). With SBERT_FAULT_COUNT_FILE the
// number of writes made is written there at exit, so a test can spread k over a whole run.
// Plain JavaScript: it runs before tsx is registered.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { constants } from 'node:os';
import { resolve } from 'node:path';

const under = process.env.SBERT_FAULT_UNDER ? resolve(process.env.SBERT_FAULT_UNDER) : null;
const at = Number(process.env.SBERT_FAULT_WRITE_AT ?? 0);
const code = process.env.SBERT_FAULT_CODE ?? 'ENOSPC';
const countFile = process.env.SBERT_FAULT_COUNT_FILE;

if (under) {
  const fdPath = new Map();
  let count = 0;
  const inside = (p) => typeof p === 'string' && resolve(p).startsWith(under);
  const fault = (path) => {
    const e = new Error(`${code}: injected fault, write`);
    return Object.assign(e, { errno: -(constants.errno[code] ?? 28), code, syscall: 'write', ...(path ? { path } : {}) });
  };
  const tick = () => ++count === at;
  const orig = { openSync: fs.openSync, closeSync: fs.closeSync, writeSync: fs.writeSync, writeFileSync: fs.writeFileSync, appendFileSync: fs.appendFileSync };
  fs.openSync = function (path, ...rest) {
    const fd = orig.openSync.call(this, path, ...rest);
    if (inside(path)) fdPath.set(fd, resolve(path));
    return fd;
  };
  fs.closeSync = function (fd) {
    fdPath.delete(fd);
    return orig.closeSync.call(this, fd);
  };
  fs.writeSync = function (fd, ...rest) {
    if (fdPath.has(fd) && tick()) throw fault();
    return orig.writeSync.call(this, fd, ...rest);
  };
  // writeFileSync / appendFileSync of a string may skip openSync / writeSync (a fast path in
  // Node's binding), so under the folder they are done here through the two functions above:
  // every write is counted once, at the write.
  const writeWhole = (file, data, options, defaultFlag) => {
    const o = typeof options === 'string' ? { encoding: options } : (options ?? {});
    const buf = typeof data === 'string' ? Buffer.from(data, o.encoding ?? 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const fd = fs.openSync(file, o.flag ?? defaultFlag, o.mode);
    try {
      let off = 0;
      while (off < buf.length) off += fs.writeSync(fd, buf, off, buf.length - off);
    } finally {
      fs.closeSync(fd);
    }
  };
  fs.writeFileSync = function (file, data, options) {
    if (!inside(file)) return orig.writeFileSync.call(this, file, data, options);
    writeWhole(file, data, options, 'w');
  };
  fs.appendFileSync = function (file, data, options) {
    if (!inside(file)) return orig.appendFileSync.call(this, file, data, options);
    writeWhole(file, data, options, 'a');
  };
  syncBuiltinESMExports();
  if (countFile) process.on('exit', () => orig.writeFileSync(countFile, String(count)));
}
