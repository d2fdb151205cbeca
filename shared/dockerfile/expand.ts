import { ExpansionError } from '../errors.ts';
/** Values of build ARGs in scope: a string, or undefined for an ARG declared without a value. */
export type ArgValues = ReadonlyMap<string, string | undefined>;

/**
 * Expands `$V`, `${V}`, `${V:-word}`, `${V-word}`, `${V:+word}` and `${V+word}` the way Docker expands
 * ARGs in FROM, except that a variable with no value is an error instead of an empty string.
 */
export function expandArgs(word: string, args: ArgValues): string {
  let out = '';
  let i = 0;
  while (i < word.length) {
    const ch = word[i];
    if (ch === '\\' && word[i + 1] === '$') {
      out += '$';
      i += 2;
    } else if (ch !== '$') {
      out += ch;
      i += 1;
    } else if (word[i + 1] === '{') {
      const end = matchingBrace(word, i + 1);
      out += expandBraced(word.slice(i + 2, end), args);
      i = end + 1;
    } else {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(word.slice(i + 1))?.[0];
      if (name === undefined) {
        out += '$';
        i += 1;
      } else {
        out += valueOf(name, args);
        i += 1 + name.length;
      }
    }
  }
  return out;
}

function matchingBrace(word: string, open: number): number {
  let depth = 0;
  for (let i = open; i < word.length; i += 1) {
    if (word[i] === '{') depth += 1;
    else if (word[i] === '}') {
      depth -= 1;
      if (depth === 0) return i;
    }
  }
  throw new ExpansionError(`"\${" without a closing "}" in "${word}"`);
}

function expandBraced(body: string, args: ArgValues): string {
  const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+?])([\s\S]*))?$/.exec(body);
  if (!match) throw new ExpansionError(`"\${${body}}" is not a variable substitution`);
  const [, name = '', operator, operand = ''] = match;
  if (operator === undefined) return valueOf(name, args);
  const value = args.get(name);
  const unset = value === undefined;
  const empty = unset || value === '';
  switch (operator) {
    case ':-':
      return empty ? expandArgs(operand, args) : value;
    case '-':
      return unset ? expandArgs(operand, args) : value;
    case ':+':
      return empty ? '' : expandArgs(operand, args);
    case '+':
      return unset ? '' : expandArgs(operand, args);
    default:
      throw new ExpansionError(`ARG ${name} is required here ("\${${body}}")`);
  }
}

function valueOf(name: string, args: ArgValues): string {
  if (!args.has(name)) throw new ExpansionError(`ARG ${name} is not declared before the first FROM`);
  const value = args.get(name);
  if (value === undefined) throw new ExpansionError(`ARG ${name} has no default value`);
  return value;
}
