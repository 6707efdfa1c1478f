import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';

export const trainCommand: CommandModule = {
  command: '$0 <recipe>',
  describe: 'train a model from a recipe YAML (the main job)',
  handler: async () => {
    throw new UserError('not implemented yet');
  },
};
