import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';

export const dataCommand: CommandModule = {
  command: 'data <action>',
  describe: 'data preparation (esco-pairs, quickstart data)',
  handler: async () => {
    throw new UserError('not implemented yet');
  },
};
