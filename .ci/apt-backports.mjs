#!/usr/bin/env node
// Print the apt source line for this machine's Debian backports suite, built from the apt
// sources it already has: the same mirror (URI) and key (signed-by) as the entry for the
// release itself, with the suite `<codename>-backports`. So CI works behind whatever mirror
// the machine uses (a local cache, a snapshot, a proxy) and this repository names no host.
//
//   node .ci/apt-backports.mjs            ->  deb [signed-by=/usr/share/keyrings/...] http://mirror/debian bookworm-backports main
//
// Reads $APT_DIR (default /etc/apt: sources.list, sources.list.d/*.list and *.sources, the
// one-line and the deb822 formats) and $OS_RELEASE (default /etc/os-release, VERSION_CODENAME).
// Prints nothing when the backports suite is already configured; exit 1 with a reason on
// stderr when no enabled `deb` entry for the release is found.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const aptDir = process.env.APT_DIR || '/etc/apt';
const osRelease = process.env.OS_RELEASE || '/etc/os-release';

function fail(why) {
  process.stderr.write(`apt-backports: ${why}\n`);
  process.exit(1);
}

const codename = existsSync(osRelease) ? /^VERSION_CODENAME=["']?([a-z0-9-]+)/m.exec(readFileSync(osRelease, 'utf8'))?.[1] : undefined;
if (!codename) fail(`no VERSION_CODENAME in ${osRelease}`);

/** Entries { uri, suite, signedBy } of the one-line format: `deb [opt=val ...] URI SUITE COMPONENT...`. */
function oneLine(text) {
  const out = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const signedBy = /(?:^|\s)signed-by=(\S+)/.exec(m[1] ?? '')?.[1];
    out.push({ uri: m[2], suite: m[3], signedBy });
  }
  return out;
}

/** Entries of the deb822 format (`Types:`, `URIs:`, `Suites:`... stanzas separated by blank lines). */
function deb822(text) {
  const out = [];
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const fields = {};
    let last = null;
    for (const line of stanza.split('\n')) {
      if (/^#/.test(line)) continue;
      if (/^[ \t]/.test(line) && last) {
        fields[last] += `\n${line.trim()}`; // a continuation line (an inline key, long lists)
        continue;
      }
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m) fields[(last = m[1].toLowerCase())] = m[2].trim();
    }
    if (!(fields.types ?? '').split(/\s+/).includes('deb')) continue;
    if (/^(no|false|0)$/i.test(fields.enabled ?? '')) continue;
    // An inline key block cannot go on one line; the backports suite is signed by the same
    // archive key, which apt also trusts from its default keyrings.
    const signedBy = fields['signed-by'] && !fields['signed-by'].includes('\n') ? fields['signed-by'] : undefined;
    for (const uri of (fields.uris ?? '').split(/\s+/).filter(Boolean)) {
      for (const suite of (fields.suites ?? '').split(/\s+/).filter(Boolean)) out.push({ uri, suite, signedBy });
    }
  }
  return out;
}

const entries = [];
const list = join(aptDir, 'sources.list');
if (existsSync(list)) entries.push(...oneLine(readFileSync(list, 'utf8')));
const dir = join(aptDir, 'sources.list.d');
if (existsSync(dir)) {
  for (const name of readdirSync(dir).sort()) {
    const text = () => readFileSync(join(dir, name), 'utf8');
    if (name.endsWith('.list')) entries.push(...oneLine(text()));
    else if (name.endsWith('.sources')) entries.push(...deb822(text()));
  }
}

// Already configured (by the machine, or by an earlier CI run): a second line for the same
// suite would make apt warn on every update.
if (entries.some((e) => e.suite === `${codename}-backports`)) process.exit(0);
const release = entries.find((e) => e.suite === codename);
if (!release) fail(`no enabled 'deb' source for ${codename} in ${aptDir}`);
const options = release.signedBy ? `[signed-by=${release.signedBy}] ` : '';
process.stdout.write(`deb ${options}${release.uri} ${codename}-backports main\n`);
