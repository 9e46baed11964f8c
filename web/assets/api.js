// api.js: requests to the API, its JSON errors, and the session's token.

const TOKEN_KEY = 'trainprog.token';

// An answer that was not what was asked for: an HTTP error with the API's
// {"error", "message"} body, or no answer at all (status 0).
export class ApiError extends Error {
	constructor(status, code, message, field) {
		super(message);
		this.status = status;
		this.code = code;
		this.field = field ?? null;
	}
}

// Sends a request and reads its JSON answer.  Resolves {status, body, etag}
// for 2xx and 304 (body null); rejects with an ApiError otherwise.
export async function request(url, { method = 'GET', headers = {}, body, signal } = {}) {
	let res;
	try {
		res = await fetch(url, {
			method, headers, body, signal,
			// The API's ETags are handled here, not by the browser's cache.
			cache: 'no-store',
			credentials: 'same-origin',
		});
	} catch (e) {
		if (e.name === 'AbortError')
			throw e;
		throw new ApiError(0, 'network', 'the server cannot be reached');
	}
	const etag = res.headers.get('ETag');
	if (res.status === 304)
		return { status: 304, body: null, etag };
	let data = null;
	const text = await res.text().catch(() => '');
	if (text !== '') {
		try {
			data = JSON.parse(text);
		} catch {
			data = null;
		}
	}
	if (res.ok)
		return { status: res.status, body: data, etag, location: res.headers.get('Location') };
	if (data && typeof data.error === 'string')
		throw new ApiError(res.status, data.error, data.message ?? data.error, data.field);
	throw new ApiError(res.status, 'http_' + res.status, `the server answered ${res.status}`);
}

export function storedToken() {
	try {
		return sessionStorage.getItem(TOKEN_KEY);
	} catch {
		return null;
	}
}

function storeToken(token) {
	try {
		if (token)
			sessionStorage.setItem(TOKEN_KEY, token);
		else
			sessionStorage.removeItem(TOKEN_KEY);
	} catch {
		// Storage refused (a private window): the token lives in this page only.
	}
	memoryToken = token;
}

let memoryToken = null;

// The dialog that asks for a token, made on first use (one for every page).
function tokenDialog() {
	let dialog = document.getElementById('token-dialog');
	if (dialog)
		return dialog;
	dialog = document.createElement('dialog');
	dialog.id = 'token-dialog';
	dialog.setAttribute('aria-labelledby', 'token-title');
	const form = document.createElement('form');
	form.method = 'dialog';
	const h = document.createElement('h2');
	h.id = 'token-title';
	h.textContent = 'API token';
	const why = document.createElement('p');
	why.className = 'why muted';
	const label = document.createElement('label');
	label.textContent = 'Bearer token (tp_…)';
	const input = document.createElement('input');
	Object.assign(input, { name: 'token', type: 'password', autocomplete: 'off', spellcheck: false, required: true });
	label.append(input);
	const note = document.createElement('p');
	note.className = 'muted';
	note.textContent = "Kept in this tab's session only.";
	const actions = document.createElement('div');
	actions.className = 'actions';
	const dismiss = document.createElement('button');
	Object.assign(dismiss, { type: 'button', className: 'dismiss', textContent: 'Dismiss' });
	const ok = document.createElement('button');
	Object.assign(ok, { type: 'submit', className: 'primary', textContent: 'Use this token' });
	actions.append(dismiss, ok);
	form.append(h, why, label, note, actions);
	dialog.append(form);
	document.body.append(dialog);
	return dialog;
}

// Asks for a token in a modal dialog; resolves it, or null if dismissed.
export function askToken(why) {
	const dialog = tokenDialog();
	const form = dialog.querySelector('form');
	const input = dialog.querySelector('input[name="token"]');
	const reason = dialog.querySelector('.why');
	reason.textContent = why;
	input.value = '';
	return new Promise((resolve) => {
		const done = (value) => {
			form.removeEventListener('submit', onSubmit);
			dialog.removeEventListener('close', onClose);
			resolve(value);
		};
		const onSubmit = (e) => {
			e.preventDefault();
			const value = input.value.trim();
			if (value === '') {
				input.setAttribute('aria-invalid', 'true');
				input.focus();
				return;
			}
			input.removeAttribute('aria-invalid');
			dialog.close('ok');
			done(value);
		};
		const onClose = () => done(null);
		form.addEventListener('submit', onSubmit);
		dialog.addEventListener('close', onClose);
		dialog.querySelector('button.dismiss').onclick = () => dialog.close();
		dialog.showModal();
		input.focus();
	});
}

// A write with the session's token: asks for one the first time, and again
// once if the server refuses the one kept.  Resolves the answer, or null
// when the user dismissed the question.
export async function authorized(url, options, why) {
	let token = storedToken() ?? memoryToken;
	for (let attempt = 0; attempt < 2; attempt++) {
		if (!token) {
			token = await askToken(why);
			if (!token)
				return null;
		}
		try {
			const headers = { ...(options.headers ?? {}), Authorization: `Bearer ${token}` };
			const answer = await request(url, { ...options, headers });
			storeToken(token);
			return answer;
		} catch (e) {
			const refused = e instanceof ApiError &&
			    (e.status === 401 || (e.status === 403 && e.code === 'forbidden'));
			if (refused && attempt === 0) {
				storeToken(null);
				token = null;
				why = `${e.message}. Enter another token.`;
				continue;
			}
			// Any other answer (a bad field, a conflict) took the token.
			if (!refused && e instanceof ApiError && e.status !== 0)
				storeToken(token);
			throw e;
		}
	}
	return null;
}
