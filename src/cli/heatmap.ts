import type { CommandModule } from 'yargs';
import { UserError } from '../errors.js';

export const heatmapCommand: CommandModule = {
  command: 'heatmap',
  describe: 'pairwise cosine-similarity heatmap of texts (PNG, SVG, HTML)',
  handler: async () => {
    throw new UserError('not implemented yet');
  },
};
