import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';

export const indexCommand: CommandModule = {
  command: 'index <action>',
  describe: 'build / add to / remove from / inspect an HNSW index',
  handler: async () => {
    throw new UserError('not implemented yet');
  },
};
