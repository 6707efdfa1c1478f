import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';

export const searchCommand: CommandModule = {
  command: 'search',
  describe: 'query an HNSW index',
  handler: async () => {
    throw new UserError('not implemented yet');
  },
};
