// Asks for the API token (printed by `parallax serve`) in a modal <dialog>; resolves with the token or null.
import { h } from './dom.js';

export function askToken(reason: string, current: string | null): Promise<string | null> {
  const input = h('input', { id: 'token-input', type: 'password', autocomplete: 'off', spellcheck: 'false', placeholder: 'paste the token', value: current ?? '' });
  const dialog = h('dialog', { class: 'token-dialog', id: 'token-dialog' },
    h('form', { method: 'dialog' },
      h('h2', {}, 'API token'),
      h('p', { class: 'reason' }, reason),
      h('p', { class: 'muted small' }, 'It is printed when the server starts (“API token: …”) and stored in <data-dir>/token. Opening the link the server prints (…/#token=…) fills it in for you. It is kept in this browser’s localStorage.'),
      input,
      h('div', { class: 'actions' }, h('button', { class: 'primary', value: 'ok', id: 'token-save' }, 'Save'), h('button', { class: 'ghost', value: 'cancel', formnovalidate: true }, 'Cancel'))));
  document.body.append(dialog);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const ok = dialog.returnValue === 'ok' && input.value.trim() !== '';
      dialog.remove();
      resolve(ok ? input.value.trim() : null);
    });
    dialog.showModal();
    input.focus();
  });
}
