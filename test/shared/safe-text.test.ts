import { describe, expect, it } from 'vitest';
import { guardLines, rememberCredential, rememberSecret, safeMessage, safeText } from '../../shared/safe-text.ts';

// A line is a GitHub Actions workflow command when, after its leading spaces, it starts with `::`
// (https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions; the runner trims leading
// whitespace before it looks, see ActionCommand.TryParseV2 in actions/runner).
const startsCommand = (line: string) => /^\s*(::|##\[)/.test(line);

describe('safeText', () => {
  it('escapes newlines, terminal escapes, bidirectional overrides and quotes, so that the text stays on its line', () => {
    expect(safeText('a\nb\r\tc')).toBe('a\\nb\\r\\tc');
    expect(safeText('\u001b[31mred\u0007')).toBe('\\u001b[31mred\\u0007');
    expect(safeText('abc\u202eevil\u2066')).toBe('abc\\u202eevil\\u2066');
    expect(safeText('\u0085\u2028')).toBe('\\u0085\\u2028');
    expect(safeText('say "hi" \\ bye')).toBe('say \\"hi\\" \\\\ bye');
  });

  it('leaves quotes alone in a whole message, which already quotes its pieces', () => {
    expect(safeMessage('looking up "a":\nb')).toBe('looking up "a":\\nb');
  });

  it('never lets outside text start a workflow command, even after a newline it carried', () => {
    for (const text of ['::error file=x::owned', '  ::warning::x', '##[error]x', 'x\n::error::owned']) {
      const safe = safeMessage(text);
      expect(safe.split('\n')).toHaveLength(1);
      expect(startsCommand(safe), safe).toBe(false);
    }
    expect(safeMessage('::error::x')).toBe('\\u003a:error::x');
    expect(safeMessage('a::b')).toBe('a::b');
  });

  it('caps the length and says how long the text was, without reading past what it shows', () => {
    const huge = `\${${'A'.repeat(50_000_000)}`;
    const safe = safeText(huge);
    expect(safe.length).toBeLessThan(400);
    expect(safe).toMatch(/… \(50000002 characters\)$/);
    expect(safeText('x'.repeat(300))).toBe('x'.repeat(300));
  });

  it('never ends a cut text on half an escape or half a character', () => {
    expect(safeText(`${'x'.repeat(9)}\n`, 10)).toBe(`${'x'.repeat(9)}… (10 characters)`);
    expect(safeText(`${'x'.repeat(7)}\u001b`, 10)).toBe(`${'x'.repeat(7)}… (8 characters)`);
    // A whole escaped backslash stays whole.
    expect(safeText(`${'x'.repeat(8)}\\yz`, 10)).toBe(`${'x'.repeat(8)}\\\\… (11 characters)`);
    // An emoji is two UTF-16 units: the cut never keeps one of them alone.
    expect(safeText(`${'x'.repeat(9)}\u{1F600}`, 10)).toBe(`${'x'.repeat(9)}… (11 characters)`);
  });

  it('forgets the oldest secrets past a thousand, and still hides the newest', () => {
    rememberSecret('first-secret-value');
    for (let i = 0; i < 1000; i += 1) rememberSecret(`token-number-${i}`);
    expect(safeMessage('first-secret-value and token-number-999')).toBe('first-secret-value and ***');
  });

  it('hides remembered secrets and their Basic form, also across the cut and inside longer text', () => {
    rememberCredential('mirror-bot', 'hunter2-very-secret');
    rememberSecret('ghp_0123456789abcdef');
    const basic = Buffer.from('mirror-bot:hunter2-very-secret').toString('base64');
    const text = `denied: password=hunter2-very-secret auth=${basic} token ghp_0123456789abcdef`;
    const safe = safeMessage(text);
    expect(safe).not.toContain('hunter2');
    expect(safe).not.toContain(basic);
    expect(safe).not.toContain('ghp_0123456789abcdef');
    expect(safe).toBe('denied: password=*** auth=*** token ***');
    // A secret that straddles the cut shows no part of itself.
    expect(safeText(`${'x'.repeat(295)}hunter2-very-secret`, 300)).not.toContain('hunt');
  });

  it('hides a Basic or Bearer value a registry echoes, known or not, and keeps plain words', () => {
    expect(safeMessage('you sent Authorization: Basic dW5rbm93bjp1c2Vy')).toBe('you sent Authorization: Basic ***');
    expect(safeMessage('header "Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc"')).toBe('header "Bearer ***"');
    expect(safeMessage('UNAUTHORIZED: Basic authentication required')).toBe('UNAUTHORIZED: Basic authentication required');
    expect(safeMessage('Bearer realm="https://auth.docker.io/token"')).toBe('Bearer realm="https://auth.docker.io/token"');
  });

  it('does not hide short secrets as plain words', () => {
    rememberSecret('test');
    expect(safeMessage('a test')).toBe('a test');
  });
});

describe('guardLines', () => {
  it('escapes every line of built output that would start a workflow command', () => {
    const out = guardLines('ok\n  ::error::x\n##[group]y\nfine :: here');
    expect(out.split('\n').some(startsCommand)).toBe(false);
    expect(out).toBe('ok\n  \\u003a:error::x\n\\u0023#[group]y\nfine :: here');
  });
});
