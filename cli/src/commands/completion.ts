import { UsageError } from '../args';
import { type Command, EXIT } from '../command';

/** Command words and each command's flags, for the shells to complete from. */
export type CompletionTable = { path: string[]; flags: string[] }[];

const GLOBAL_FLAGS = ['--output', '--url', '--ca-file', '--help'];

function bash(table: CompletionTable): string {
  const groups = [...new Set(table.filter((c) => c.path.length > 1).map((c) => c.path[0]))];
  const subcommands = groups.map(
    (g) =>
      `    ${g}) words="${table
        .filter((c) => c.path[0] === g)
        .map((c) => c.path[1])
        .join(' ')}" ;;`,
  );
  const flags = table.map((c) => `    "${c.path.join(' ')}") flags="${[...new Set([...c.flags.map((f) => `--${f}`), ...GLOBAL_FLAGS])].join(' ')}" ;;`);
  return `# corral completion for bash: eval "$(corral completion bash)", or save it in /etc/bash_completion.d/corral
_corral() {
  local cur=\${COMP_WORDS[COMP_CWORD]} words="" flags="" key=\${COMP_WORDS[1]}
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${[...new Set(table.map((c) => c.path[0]))].join(' ')} help" -- "$cur")); return
  fi
  case "$key" in
${subcommands.join('\n')}
  esac
  if [ -n "$words" ]; then
    if [ "$COMP_CWORD" -eq 2 ]; then COMPREPLY=($(compgen -W "$words" -- "$cur")); return; fi
    key="$key \${COMP_WORDS[2]}"
  fi
  case "$key" in
${flags.join('\n')}
  esac
  [[ "$cur" == -* ]] && COMPREPLY=($(compgen -W "$flags" -- "$cur"))
}
complete -o default -F _corral corral
`;
}

function zsh(table: CompletionTable): string {
  return `#compdef corral
# corral completion for zsh: eval "$(corral completion zsh)", or save it as _corral on your fpath
autoload -U +X bashcompinit && bashcompinit
${bash(table)}`;
}

export function completion(table: () => CompletionTable): Command {
  return {
    path: ['completion'],
    summary: 'print a shell completion script (bash or zsh)',
    usage: 'corral completion bash|zsh',
    flags: {},
    async run(ctx) {
      const [shell] = ctx.words;
      if (shell === 'bash') process.stdout.write(bash(table()));
      else if (shell === 'zsh') process.stdout.write(zsh(table()));
      else throw new UsageError('name the shell: corral completion bash, or corral completion zsh');
      return EXIT.ok;
    },
  };
}
