/**
 * The quickstart data set: scored job-title pairs generated from a small hand-written
 * vocabulary, so the README's first command can train the built-in tiny model on real-looking
 * domain data without any download.
 *
 * The vocabulary (below, written for this project) has job families, each with title
 * variants that mean the same job, and a few related families (nurse ~ care assistant).
 * Titles may carry a seniority word ("senior", "junior", ...). Pairs and scores:
 *
 * | kind | pair | score |
 * | --- | --- | --- |
 * | synonym | two titles of one family | 0.90-1.00 (0.90-0.95 when the seniority differs) |
 * | related | titles of two related families | 0.40-0.60 |
 * | unrelated | titles of two unrelated families | 0.00-0.10 |
 *
 * Scores carry a small seeded jitter so they are graded rather than three tied values.
 * Generalisation: in every family with 5 or more titles, the last title is held out of
 * train. Half of the dev pairs contain a held-out title (transfer to unseen titles, hard for
 * a model trained from scratch); the other half are new combinations of training titles
 * (transfer to unseen pairs). No dev pair appears in train.
 * Titles share many character n-grams with their synonyms ("software engineer" /
 * "software developer"), which a byte-level model can pick up in minutes on a CPU.
 */
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { shuffleInPlace } from './batching.js';
import { writeCsvAtomic } from './csv-write.js';
import type { ScoredPair } from './esco.js';

export interface JobFamily {
  id: string;
  titles: string[];
  related: string[];
}

/** Hand-written for sbert-train. Relations are listed on one side and made symmetric. */
export const JOB_FAMILIES: readonly JobFamily[] = [
  { id: 'software', titles: ['software engineer', 'software developer', 'programmer', 'backend developer', 'full stack developer', 'application developer', 'software programmer'], related: ['data', 'it_support', 'web'] },
  { id: 'web', titles: ['web developer', 'frontend developer', 'web designer', 'front end engineer', 'javascript developer', 'ui developer'], related: ['graphic_design'] },
  { id: 'data', titles: ['data scientist', 'data analyst', 'machine learning engineer', 'data engineer', 'analytics specialist', 'statistician'], related: ['accounting'] },
  { id: 'it_support', titles: ['it support technician', 'help desk analyst', 'system administrator', 'it technician', 'desktop support specialist', 'network administrator'], related: [] },
  { id: 'nursing', titles: ['nurse', 'registered nurse', 'staff nurse', 'nurse practitioner', 'ward nurse', 'nursing officer', 'clinical nurse'], related: ['care', 'doctor', 'pharmacy'] },
  { id: 'care', titles: ['care assistant', 'care worker', 'healthcare assistant', 'support worker', 'caregiver', 'home care aide'], related: [] },
  { id: 'doctor', titles: ['doctor', 'physician', 'general practitioner', 'medical doctor', 'family physician', 'gp'], related: ['pharmacy', 'dentist'] },
  { id: 'dentist', titles: ['dentist', 'dental surgeon', 'dental practitioner', 'orthodontist', 'dental hygienist'], related: [] },
  { id: 'pharmacy', titles: ['pharmacist', 'pharmacy technician', 'dispensing pharmacist', 'clinical pharmacist', 'pharmacy assistant'], related: [] },
  { id: 'accounting', titles: ['accountant', 'chartered accountant', 'bookkeeper', 'accounts assistant', 'financial accountant', 'accounting clerk', 'auditor'], related: ['finance', 'payroll'] },
  { id: 'finance', titles: ['financial analyst', 'finance manager', 'investment analyst', 'financial controller', 'treasury analyst'], related: ['banking'] },
  { id: 'payroll', titles: ['payroll clerk', 'payroll administrator', 'payroll officer', 'payroll specialist', 'wages clerk'], related: ['hr'] },
  { id: 'banking', titles: ['bank teller', 'bank clerk', 'cashier at a bank', 'customer banking adviser', 'branch banker'], related: ['retail'] },
  { id: 'teaching', titles: ['teacher', 'school teacher', 'primary school teacher', 'secondary school teacher', 'classroom teacher', 'schoolteacher', 'high school teacher'], related: ['teaching_assistant', 'lecturer', 'childcare'] },
  { id: 'teaching_assistant', titles: ['teaching assistant', 'classroom assistant', 'learning support assistant', 'teacher aide', 'school assistant'], related: ['childcare'] },
  { id: 'lecturer', titles: ['lecturer', 'university lecturer', 'professor', 'assistant professor', 'college lecturer', 'academic tutor'], related: [] },
  { id: 'childcare', titles: ['nursery nurse', 'childcare worker', 'nanny', 'child minder', 'early years practitioner', 'daycare worker'], related: [] },
  { id: 'trucking', titles: ['truck driver', 'lorry driver', 'hgv driver', 'long haul trucker', 'heavy goods vehicle driver', 'tractor trailer driver'], related: ['delivery', 'warehouse', 'bus'] },
  { id: 'delivery', titles: ['delivery driver', 'van driver', 'courier', 'parcel delivery driver', 'delivery courier', 'multi drop driver'], related: ['warehouse'] },
  { id: 'bus', titles: ['bus driver', 'coach driver', 'bus operator', 'public transport driver', 'city bus driver'], related: [] },
  { id: 'warehouse', titles: ['warehouse operative', 'warehouse worker', 'picker packer', 'stock handler', 'forklift driver', 'warehouse associate'], related: ['retail'] },
  { id: 'retail', titles: ['sales assistant', 'shop assistant', 'retail assistant', 'cashier', 'store associate', 'checkout operator', 'sales associate'], related: ['customer_service'] },
  { id: 'customer_service', titles: ['customer service advisor', 'call centre agent', 'customer support representative', 'contact centre advisor', 'customer service agent'], related: ['reception'] },
  { id: 'reception', titles: ['receptionist', 'front desk receptionist', 'front of house receptionist', 'office receptionist', 'medical receptionist'], related: ['admin'] },
  { id: 'admin', titles: ['administrative assistant', 'office administrator', 'admin assistant', 'secretary', 'office assistant', 'personal assistant'], related: ['hr'] },
  { id: 'hr', titles: ['hr manager', 'human resources manager', 'hr advisor', 'people partner', 'human resources officer', 'hr business partner'], related: ['recruitment'] },
  { id: 'recruitment', titles: ['recruiter', 'recruitment consultant', 'talent acquisition specialist', 'recruitment advisor', 'headhunter'], related: ['sales'] },
  { id: 'sales', titles: ['sales representative', 'sales executive', 'account manager', 'business development manager', 'sales consultant', 'territory sales manager'], related: ['marketing'] },
  { id: 'marketing', titles: ['marketing manager', 'marketing executive', 'digital marketing specialist', 'brand manager', 'marketing coordinator', 'social media manager'], related: ['graphic_design'] },
  { id: 'graphic_design', titles: ['graphic designer', 'visual designer', 'graphic artist', 'digital designer', 'creative designer'], related: [] },
  { id: 'chef', titles: ['chef', 'cook', 'line cook', 'sous chef', 'head chef', 'kitchen chef', 'commis chef'], related: ['kitchen', 'waiting'] },
  { id: 'kitchen', titles: ['kitchen porter', 'kitchen assistant', 'dishwasher', 'kitchen hand', 'catering assistant'], related: ['cleaning'] },
  { id: 'waiting', titles: ['waiter', 'waitress', 'server', 'waiting staff', 'restaurant server', 'food server'], related: ['bar'] },
  { id: 'bar', titles: ['bartender', 'barman', 'bar staff', 'barmaid', 'mixologist', 'bar attendant'], related: [] },
  { id: 'cleaning', titles: ['cleaner', 'office cleaner', 'janitor', 'domestic cleaner', 'cleaning operative', 'housekeeper'], related: [] },
  { id: 'electrician', titles: ['electrician', 'electrical installer', 'domestic electrician', 'maintenance electrician', 'electrical technician'], related: ['plumbing', 'construction'] },
  { id: 'plumbing', titles: ['plumber', 'plumbing engineer', 'heating engineer', 'pipe fitter', 'gas engineer'], related: ['construction'] },
  { id: 'construction', titles: ['construction worker', 'builder', 'labourer', 'site labourer', 'bricklayer', 'construction labourer'], related: ['carpentry'] },
  { id: 'carpentry', titles: ['carpenter', 'joiner', 'woodworker', 'cabinet maker', 'finish carpenter'], related: [] },
  { id: 'mechanic', titles: ['mechanic', 'car mechanic', 'motor mechanic', 'auto technician', 'vehicle technician', 'automotive mechanic'], related: ['trucking'] },
  { id: 'security', titles: ['security guard', 'security officer', 'door supervisor', 'night watchman', 'patrol officer'], related: ['police'] },
  { id: 'police', titles: ['police officer', 'policeman', 'police constable', 'detective', 'police sergeant'], related: [] },
  { id: 'law', titles: ['lawyer', 'solicitor', 'attorney', 'barrister', 'legal counsel', 'advocate'], related: ['paralegal'] },
  { id: 'paralegal', titles: ['paralegal', 'legal assistant', 'legal secretary', 'law clerk', 'legal executive'], related: ['admin'] },
];

const SENIORITY = ['senior', 'junior', 'lead', 'trainee', 'principal'];
const SENIORITY_RATE = 0.3;

export interface QuickstartOptions {
  seed?: number;
  trainPairs?: number;
  devPairs?: number;
}

interface Split {
  train: Map<string, string[]>;
  heldOut: Map<string, string[]>;
}

/** Families with >= 5 titles hold their last title out of training. */
export function heldOutTitles(families: readonly JobFamily[] = JOB_FAMILIES): Split {
  const train = new Map<string, string[]>();
  const heldOut = new Map<string, string[]>();
  for (const f of families) {
    const k = f.titles.length >= 5 ? 1 : 0;
    train.set(f.id, f.titles.slice(0, f.titles.length - k));
    heldOut.set(f.id, f.titles.slice(f.titles.length - k));
  }
  return { train, heldOut };
}

function relations(families: readonly JobFamily[]): Map<string, Set<string>> {
  const rel = new Map(families.map((f) => [f.id, new Set<string>()]));
  for (const f of families) {
    for (const r of f.related) {
      if (!rel.has(r)) throw new Error(`quickstart vocabulary: ${f.id} names unknown related family ${r}`);
      rel.get(f.id)!.add(r);
      rel.get(r)!.add(f.id);
    }
  }
  return rel;
}

/**
 * Generate scored pairs; `pool(familyId, side)` says which titles each side of a pair may
 * use (train: training titles on both sides; dev: a held-out title on the first side).
 */
function generate(
  families: readonly JobFamily[],
  count: number,
  rng: () => number,
  pool: (family: string, side: 0 | 1) => string[],
  avoid: Set<string>,
): ScoredPair[] {
  const rel = relations(families);
  const ids = families.map((f) => f.id).filter((id) => pool(id, 0).length > 0);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
  const jitter = (lo: number, hi: number) => Math.round((lo + rng() * (hi - lo)) * 100) / 100;
  const withSeniority = (title: string): [string, string] => {
    if (rng() >= SENIORITY_RATE) return [title, ''];
    const s = pick(SENIORITY);
    return [`${s} ${title}`, s];
  };
  const out: ScoredPair[] = [];
  const seen = new Set(avoid);
  let guard = 0;
  while (out.length < count && guard++ < count * 50) {
    const fam = pick(ids);
    const r = rng();
    let other: string;
    let kind: 'syn' | 'rel' | 'unrel';
    if (r < 0.4) {
      other = fam;
      kind = 'syn';
    } else if (r < 0.65 && rel.get(fam)!.size > 0) {
      other = pick([...rel.get(fam)!]);
      kind = 'rel';
    } else {
      other = pick(families.filter((f) => f.id !== fam && !rel.get(fam)!.has(f.id)).map((f) => f.id));
      kind = 'unrel';
    }
    const a = pick(pool(fam, 0));
    const candidates = pool(other, 1).filter((t) => t !== a);
    if (candidates.length === 0) continue;
    const b = pick(candidates);
    const [ta, sa] = withSeniority(a);
    const [tb, sb] = withSeniority(b);
    const score = kind === 'syn' ? (sa === sb ? jitter(0.9, 1.0) : jitter(0.9, 0.95)) : kind === 'rel' ? jitter(0.4, 0.6) : jitter(0.0, 0.1);
    const key = ta < tb ? `${ta}\u0000${tb}` : `${tb}\u0000${ta}`;
    if (ta === tb || seen.has(key)) continue;
    seen.add(key);
    // random order within the pair, so a model cannot rely on position
    out.push(rng() < 0.5 ? { sentence1: ta, sentence2: tb, score } : { sentence1: tb, sentence2: ta, score });
  }
  return out;
}

/** Order-free identity of a pair of titles. */
function pairKey(p: ScoredPair): string {
  return p.sentence1 < p.sentence2 ? `${p.sentence1}\u0000${p.sentence2}` : `${p.sentence2}\u0000${p.sentence1}`;
}

/**
 * Train and dev pairs, deterministic from the seed. Half of dev pairs hold a title never
 * seen in training; the other half pair training titles in combinations not in train.
 */
export function quickstartPairs(opts: QuickstartOptions = {}): { train: ScoredPair[]; dev: ScoredPair[] } {
  const rng = seedrandom(`quickstart:${opts.seed ?? 42}`);
  const { train: trainTitles, heldOut } = heldOutTitles();
  const train = generate(JOB_FAMILIES, opts.trainPairs ?? 3000, rng, (id) => trainTitles.get(id)!, new Set());
  const avoid = new Set(train.map(pairKey));
  const all = new Map(JOB_FAMILIES.map((f) => [f.id, f.titles]));
  const devPairs = opts.devPairs ?? 400;
  const unseenTitles = generate(JOB_FAMILIES, Math.ceil(devPairs / 2), rng, (id, side) => (side === 0 ? heldOut.get(id)! : all.get(id)!), avoid);
  for (const p of unseenTitles) avoid.add(pairKey(p));
  const unseenPairs = generate(JOB_FAMILIES, devPairs - unseenTitles.length, rng, (id) => trainTitles.get(id)!, avoid);
  const dev = [...unseenTitles, ...unseenPairs];
  return { train: shuffleInPlace(train, rng), dev: shuffleInPlace(dev, rng) };
}

/** Write `<dir>/train.csv` and `<dir>/dev.csv` (sentence1,sentence2,score), each atomically. */
export function writeQuickstart(dir: string, opts: QuickstartOptions = {}): { train: number; dev: number; trainPath: string; devPath: string } {
  const { train, dev } = quickstartPairs(opts);
  const rows = (ps: ScoredPair[]) => ps.map((p) => [p.sentence1, p.sentence2, p.score.toFixed(2)]);
  const trainPath = join(dir, 'train.csv');
  const devPath = join(dir, 'dev.csv');
  writeCsvAtomic(trainPath, ['sentence1', 'sentence2', 'score'], rows(train));
  writeCsvAtomic(devPath, ['sentence1', 'sentence2', 'score'], rows(dev));
  return { train: train.length, dev: dev.length, trainPath, devPath };
}
