import { EnvReader } from './env.ts';
import { isEcrRepositoryPath } from '../image-ref/target.ts';

/** The findings Lambda's settings, read once at cold start. */
export interface FindingsConfig {
  /** Repositories named `<targetPrefix>/…` are the mirror's; scan events of any other are ignored. */
  readonly targetPrefix: string;
}

/** Loads the findings configuration from the environment; throws one ConfigError listing every problem. */
export function loadFindingsConfig(env: Readonly<Record<string, string | undefined>>): FindingsConfig {
  const read = new EnvReader(env);
  // Required, not defaulted to "every repository": the account may hold images that are not the mirror's.
  const text = read.required('TARGET_PREFIX');
  const targetPrefix = text.replace(/^\/+|\/+$/g, '');
  if (text !== '' && !isEcrRepositoryPath(targetPrefix)) {
    read.parse('TARGET_PREFIX', text, () => {
      throw new Error(`"${targetPrefix}" must be lowercase path components of a-z, 0-9 and single ".", "_" or "-" separators`);
    });
  }
  read.done('findings');
  return Object.freeze({ targetPrefix });
}
