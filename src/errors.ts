/**
 * Error types. A `UserError` (or subclass) is a mistake in what the user gave us: a file,
 * a recipe, a flag. The CLI prints its one-line message and exits with `exitCode` (2),
 * never a stack trace. Anything else is a bug in sbert-train and keeps its stack.
 */
export class UserError extends Error {
  readonly exitCode: number = 2;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A recipe or configuration problem; `problems` lists every one found (dotted paths). */
export class ConfigError extends UserError {
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super(message);
  }
}

/** Bad input data: a file that cannot be read, parsed, or holds invalid rows. */
export class DataError extends UserError {}

/** A model folder or weight file that cannot be loaded. */
export class ModelError extends UserError {}

/** The tensor backend failed (e.g. a GPU kernel that did not compile); the results cannot be trusted. */
export class BackendError extends UserError {}

/** Training stopped on purpose (NaN loss, Ctrl-C); exit code 3 is distinct from user errors. */
export class TrainingAborted extends UserError {
  override readonly exitCode: number = 3;
}

export function isUserError(e: unknown): e is UserError {
  return e instanceof UserError;
}
