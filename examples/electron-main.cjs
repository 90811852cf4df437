// The Electron main-process pattern: start daemons once the app is ready, run heavy work there
// (never in the renderer, never blocking the main process), and end them before the app quits.
// Local daemons are this executable run as Node (ELECTRON_RUN_AS_NODE=1, set by mirai), so the
// app ships no separate Node. In an Electron app: `electron examples/electron-main.cjs`.
// Without Electron (`node examples/electron-main.cjs`) the same code runs with a stand-in `app`.
const { daemons, mirai } = require('mirai');

let electron;
try {
  electron = require('electron');
} catch {
  electron = undefined;
}
const app =
  typeof electron === 'object' && electron.app
    ? electron.app
    : { whenReady: () => Promise.resolve(), on: () => {}, quit: () => {} };

async function start() {
  await daemons(2);
  // e.g. from an ipcMain.handle('hash', ...) handler: the renderer awaits the result.
  const digest = await mirai(({ text }) => require('node:crypto').createHash('sha256').update(text).digest('hex'), {
    text: 'heavy work off the main process',
  });
  console.log('sha256:', digest.slice(0, 16));
}

// Daemons end with the app: before-quit waits for daemons(0) once, then quits for real.
let stopping = false;
app.on('before-quit', (event) => {
  if (stopping) return;
  stopping = true;
  event.preventDefault();
  daemons(0).finally(() => app.quit());
});

app
  .whenReady()
  .then(start)
  .then(() => (electron?.app ? undefined : daemons(0)))
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  });
