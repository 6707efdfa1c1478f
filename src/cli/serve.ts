import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';

export const serveCommand: CommandModule = {
  command: 'serve',
  describe: 'serve an HNSW index over HTTP with a search page',
  handler: async () => {
    throw new UserError('not implemented yet');
  },
};
