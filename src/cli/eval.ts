import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';

export const evalCommand: CommandModule = {
  command: 'eval',
  describe: 'evaluate models on STS / pair / retrieval data and write reports',
  handler: async () => {
    throw new UserError('not implemented yet');
  },
};
