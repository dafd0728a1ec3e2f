// The sign-in prompt: shown when the collector answers 401, apart from the rest of the
// viewer because it is the only place a token is typed.
import { setToken } from '../ui/api.js';
import { el } from '../ui/dom.js';

/** The collector wants a token: ask once, keep it for the tab, and start again. */
export function askToken(signedIn: () => void): void {
  if (document.querySelector('dialog.login')) return;
  const input = el('input', {
    attrs: {
      type: 'password',
      name: 'token',
      placeholder: 'collector token',
      autocomplete: 'off',
    },
  });
  const dialog = el('dialog', { class: 'login' });
  const form = el(
    'form',
    {
      on: {
        submit: (event) => {
          event.preventDefault();
          setToken(input.value.trim());
          dialog.close();
          dialog.remove();
          signedIn();
        },
      },
    },
    input,
    el('button', { attrs: { type: 'submit' } }, 'Sign in'),
  );
  dialog.append(el('p', {}, 'This collector needs a token.'), form);
  document.body.append(dialog);
  dialog.showModal();
}
