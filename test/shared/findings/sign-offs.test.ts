import { describe, expect, it } from 'vitest';
import { SignOffFileError } from '../../../shared/errors.ts';
import { parseSignOffFile, SIGN_OFF_FILE, signOffPathFor } from '../../../shared/findings/sign-offs.ts';

const PATH = 'docker.io/library/postgres/.trivyignore.yaml';

function parse(text: string) {
  return parseSignOffFile({ path: PATH, text });
}

describe('parseSignOffFile', () => {
  it('reads every field of Trivy ignore-file entries, with the line of each entry', () => {
    const file = parse(
      [
        '# Sign-offs for postgres',
        'vulnerabilities:',
        '  - id: CVE-2024-1234',
        '    statement: Not reachable, postgres does not use libssl for this',
        '    expired_at: 2025-06-30',
        '  - id: CVE-2022-22965',
        '    paths:',
        '      - "**/*.jar"',
        '    purls:',
        '      - pkg:maven/org.springframework/spring-beans',
        '    statement: "the app runs on JDK 8"',
        '    expired_at: 2025-06-30T12:00:00+02:00',
        'misconfigurations:',
        '  - id: AVD-DS-0002',
      ].join('\n'),
    );
    expect(file.problems).toEqual([]);
    expect(file.file).toBe(PATH);
    expect(file.signOffs).toEqual([
      {
        id: 'CVE-2024-1234',
        statement: 'Not reachable, postgres does not use libssl for this',
        expiresAt: new Date('2025-06-30T00:00:00Z'),
        expiredAtText: '2025-06-30',
        file: PATH,
        line: 3,
      },
      {
        id: 'CVE-2022-22965',
        statement: 'the app runs on JDK 8',
        expiresAt: new Date('2025-06-30T10:00:00Z'),
        expiredAtText: '2025-06-30T12:00:00+02:00',
        paths: ['**/*.jar'],
        purls: ['pkg:maven/org.springframework/spring-beans'],
        file: PATH,
        line: 6,
      },
    ]);
  });

  it.each([
    ['an empty file', ''],
    ['a file of comments', '# nothing signed off yet\n'],
    ['no vulnerabilities key', 'misconfigurations:\n  - id: AVD-DS-0002\n'],
    ['an empty vulnerabilities key', 'vulnerabilities:\n'],
    ['an empty list', 'vulnerabilities: []\n'],
  ])('reads %s as no sign-offs', (_, text) => {
    expect(parse(text)).toEqual({ file: PATH, signOffs: [], problems: [], ignored: [] });
  });

  it('reads a text-less file as no sign-offs', () => {
    expect(parseSignOffFile({ path: PATH })).toEqual({ file: PATH, signOffs: [], problems: [], ignored: [] });
  });

  it.each([
    ['no statement', '  - id: CVE-2024-1234\n', 'line 2: CVE-2024-1234 has no statement (why it is acceptable), so it signs nothing off'],
    ['an empty statement', '  - id: CVE-2024-1234\n    statement: "  "\n', 'line 2: CVE-2024-1234 has no statement (why it is acceptable), so it signs nothing off'],
    ['the snippet\'s TODO', '  - id: CVE-2024-1234\n    statement: "TODO: why CVE-2024-1234 is acceptable"\n', 'line 2: CVE-2024-1234 has no statement (why it is acceptable), only the TODO of the pasted snippet, so it signs nothing off'],
    ['a lower-case todo', '  - id: CVE-2024-1234\n    statement: "  todo later"\n', 'line 2: CVE-2024-1234 has no statement (why it is acceptable), only the TODO of the pasted snippet, so it signs nothing off'],
  ])('keeps an entry with %s, without statement, and says why it counts for nothing', (_, entry, problem) => {
    const file = parse(`vulnerabilities:\n${entry}`);
    expect(file.problems).toEqual([problem]);
    expect(file.signOffs).toHaveLength(1);
    expect(file.signOffs[0]?.statement).toBeUndefined();
    expect(file.signOffs[0]?.id).toBe('CVE-2024-1234');
  });

  it('takes a statement that merely starts with the letters of todo', () => {
    expect(parse('vulnerabilities:\n  - id: CVE-1\n    statement: Todos los paquetes están parcheados\n').signOffs[0]?.statement).toBe('Todos los paquetes están parcheados');
  });

  it.each(['2025-02-30', 'next year', '30/06/2025', '2025-06-30T25:00:00Z'])('counts an entry with the unreadable expired_at "%s" as expired', (text) => {
    const file = parse(`vulnerabilities:\n  - id: CVE-1\n    statement: fine\n    expired_at: ${text}\n`);
    expect(file.problems).toEqual([`line 2: CVE-1 has expired_at "${text}", which is no date (2025-06-30) nor time (2025-06-30T12:00:00Z), so it counts as expired`]);
    expect(file.signOffs[0]?.expiredAtText).toBe(text);
    expect(file.signOffs[0]?.expiresAt?.getTime()).toBe(0);
  });

  it.each([
    ['2025-06-30T12:00:00Z', '2025-06-30T12:00:00.000Z'],
    ['2025-06-30t12:00:00.5z', '2025-06-30T12:00:00.500Z'],
    ['2025-06-30 12:00:00', '2025-06-30T12:00:00.000Z'],
    ['2025-06-30T12:00:00-05:00', '2025-06-30T17:00:00.000Z'],
    ['"2025-06-30"', '2025-06-30T00:00:00.000Z'],
  ])('reads expired_at %s', (text, iso) => {
    expect(parse(`vulnerabilities:\n  - id: CVE-1\n    expired_at: ${text}\n`).signOffs[0]?.expiresAt?.toISOString()).toBe(iso);
  });

  it('reads a YAML 1.1 timestamp', () => {
    const file = parse('%YAML 1.1\n---\nvulnerabilities:\n  - id: CVE-1\n    statement: ok\n    expired_at: 2025-06-30\n');
    expect(file.signOffs[0]).toMatchObject({ expiresAt: new Date('2025-06-30T00:00:00Z'), expiredAtText: '2025-06-30', line: 4 });
  });

  it.each([
    ['paths that is no list', '    paths: "**/*.jar"\n', 'line 2: CVE-1 has "paths" that is not a list of strings, so the entry is ignored'],
    ['purls holding a mapping', '    purls:\n      - { type: deb }\n', 'line 2: CVE-1 has "purls" that is not a list of strings, so the entry is ignored'],
    ['an invalid glob', '    paths: ["usr/[lib"]\n', 'line 2: CVE-1 has the path pattern "usr/[lib", which is no valid glob, so the entry is ignored'],
    ['a purl that is none', '    purls: ["deb/debian/libssl3"]\n', 'line 2: CVE-1 has "deb/debian/libssl3" in "purls", which is no package URL'],
  ])('ignores an entry with %s, saying so', (_, fields, problem) => {
    const file = parse(`vulnerabilities:\n  - id: CVE-1\n    statement: fine\n${fields}  - id: CVE-2\n    statement: fine\n`);
    expect(file.problems).toEqual([expect.stringContaining(problem)]);
    expect(file.signOffs.map((signOff) => signOff.id)).toEqual(['CVE-2']);
    expect(file.ignored).toEqual([{ id: 'CVE-1', line: 2 }]);
  });

  it.each([
    ['text that is no YAML', 'vulnerabilities:\n  - id: [\n', /^reading the sign-off file "docker\.io\/library\/postgres\/\.trivyignore\.yaml": line \d+: not valid YAML: /],
    ['a key twice', 'vulnerabilities:\n  - id: CVE-1\n    id: CVE-2\n', /line 3: not valid YAML: Map keys must be unique/],
    ['a list at the top', '- id: CVE-1\n', /line 1: expected Trivy's ignore file, a mapping with a "vulnerabilities" list/],
    ['vulnerabilities as a mapping', 'vulnerabilities:\n  id: CVE-1\n', /line 2: "vulnerabilities" must be a list of entries with an "id"/],
    ['an entry that is a string', 'vulnerabilities:\n  - CVE-1\n', /line 2: each entry of "vulnerabilities" must be a mapping/],
    ['an entry without id', 'vulnerabilities:\n  - id: CVE-1\n  - statement: why\n', /line 3: the entry has no "id"/],
    ['a numeric id', 'vulnerabilities:\n  - id: 2024\n', /line 2: the entry has no "id"/],
  ])('refuses %s, naming the file and line', (_, text, message) => {
    expect(() => parse(text)).toThrow(SignOffFileError);
    expect(() => parse(text)).toThrow(message);
  });

  it('refuses a file that could not be read, with the reason', () => {
    const read = () => parseSignOffFile({ path: PATH, readError: 'EACCES: permission denied' });
    expect(read).toThrow(SignOffFileError);
    expect(read).toThrow(`reading the sign-off file "${PATH}": EACCES: permission denied`);
  });

  it('escapes outside text in problems', () => {
    const file = parse('vulnerabilities:\n  - id: "CVE-1\\n::error::x"\n');
    expect(file.problems[0]).toBe('line 2: CVE-1\\n::error::x has no statement (why it is acceptable), so it signs nothing off');
  });

  it('lives beside the Dockerfile', () => {
    expect(signOffPathFor('docker.io/library/postgres/Dockerfile')).toBe(PATH);
    expect(SIGN_OFF_FILE).toBe('.trivyignore.yaml');
  });
});
