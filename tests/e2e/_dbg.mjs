import { startServer, launch, openPage } from './harness.mjs';
const server = await startServer(); const browser = await launch({ webgpu: process.argv[2] !== 'off' });
const { page, problems } = await openPage(browser, server.url);
page.on('console', (m) => console.log('console', m.type(), m.text()));
await new Promise((r) => setTimeout(r, 5000));
console.log(problems, await page.textContent('#status'), '|', await page.textContent('#backend-info'), '|', await page.textContent('#fatal'));
if (process.argv[2] !== 'off') {
  await page.fill('#f-dim', '8'); await page.fill('#f-pretrain-steps', '300'); await page.fill('#f-finetune-steps', '50');
  await page.selectOption('#f-backend', 'gpu');
  const t = Date.now();
  await page.waitForFunction(() => document.body.dataset.backend === 'webgpu', null, { timeout: 120000 });
  console.log('gpu run', Date.now() - t, 'ms', await page.textContent('#status'));
}
await browser.close(); await server.close();
