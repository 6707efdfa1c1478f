import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';

export const encodeCommand: CommandModule = {
  command: 'encode',
  describe: 'embed texts from a file into .npy or .jsonl',
  handler: async () => {
    throw new UserError('not implemented yet');
  },
};
