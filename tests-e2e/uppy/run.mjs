// Drives Uppy (@uppy/core + @uppy/aws-s3, Companion mode) in headless Chromium against a running Shoebox.
//
//   node run.mjs config.json   → prints one JSON line with what happened
//
// config: {origin, token, file, chromium}. The page is a document of the system's own origin (its
// /services/uploads/ping, really fetched, with index.html written into it), so it calls the Uppy face
// same-origin; the bundle and the file to upload are served at `${origin}/uppy-test/…` by intercepting
// those requests; part uploads go straight to the S3 endpoint (which needs CORS). A document served by
// interception has no address, and Chromium would then count it as public and refuse its requests to
// the loopback S3 endpoint (Local Network Access); a real response keeps it a loopback page.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))
const config = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const assets = {
  '/uppy-test/uppy-bundle.mjs': ['text/javascript', readFileSync(join(here, 'dist', 'uppy-bundle.mjs'))],
  '/uppy-test/file.bin': ['application/octet-stream', readFileSync(config.file)],
}

const browser = await chromium.launch({
  executablePath: config.chromium,
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
})
const logs = []
try {
  const page = await browser.newPage()
  page.on('console', (message) => logs.push(`${message.type()}: ${message.text()}`))
  page.on('pageerror', (error) => logs.push(`pageerror: ${error.message}`))
  await page.route(`${config.origin}/uppy-test/**`, (route) => {
    const found = assets[new URL(route.request().url()).pathname]
    if (!found) return route.fulfill({ status: 404, body: 'not found' })
    return route.fulfill({ status: 200, contentType: found[0], body: found[1] })
  })
  await page.goto(`${config.origin}/services/uploads/ping`)
  await page.setContent(readFileSync(join(here, 'index.html'), 'utf8'))
  const result = await page.evaluate(async ({ token }) => {
    const calls = []
    // Uppy v6's Companion mode sends no credentials of its own: the app adds its token to its own
    // same-origin calls. Part uploads to S3 go by XHR and are not touched.
    const plainFetch = window.fetch.bind(window)
    window.fetch = (input, init = {}) => {
      const url = new URL(typeof input === 'string' ? input : input.url, location.href)
      if (url.origin === location.origin && url.pathname.startsWith('/s3/')) {
        calls.push(`${init.method || 'GET'} ${url.pathname}`)
        const headers = new Headers(init.headers || {})
        headers.set('Authorization', `Bearer ${token}`)
        init = { ...init, headers }
      }
      return plainFetch(input, init)
    }
    const { Uppy, AwsS3 } = await import('/uppy-test/uppy-bundle.mjs')
    const uppy = new Uppy({ autoProceed: false })
      .use(AwsS3, { companionEndpoint: location.origin, shouldUseMultipart: true, limit: 2 })
    const blob = await (await plainFetch('/uppy-test/file.bin')).blob()
    const keep = uppy.addFile({ name: 'keep.bin', type: 'application/octet-stream', data: blob })
    const drop = uppy.addFile({ name: 'drop.bin', type: 'application/octet-stream', data: blob.slice(0, 11 * 1024 * 1024) })
    const events = []
    let paused = false
    let dropped = false
    let dropUpload = null
    const done = new Promise((resolve, reject) => {
      uppy.on('s3-multipart:part-uploaded', (file, part) => {
        events.push(`part ${file.name} ${part.partNumber ?? JSON.stringify(part)}`)
        if (file.id === keep && !paused) {
          paused = true
          uppy.pauseResume(keep)
          events.push('paused keep.bin')
          setTimeout(() => { uppy.pauseResume(keep); events.push('resumed keep.bin') }, 1000)
        }
        if (file.id === drop && !dropped) {
          dropped = true
          dropUpload = uppy.getFile(drop).s3Multipart
          uppy.removeFile(drop)
          events.push('cancelled drop.bin')
        }
      })
      uppy.on('upload-success', (file, response) => {
        events.push(`success ${file.name}`)
        if (file.id === keep) resolve(response.body)
      })
      uppy.on('upload-error', (file, error) => {
        events.push(`error ${file?.name} ${error.message}`)
        if (file?.id === keep) reject(error)
      })
    })
    uppy.upload()
    const body = await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 90000))])
    // Let the cancellation's DELETE land before reporting.
    for (let i = 0; i < 50 && !calls.some((c) => c.startsWith('DELETE')); i++) await new Promise((r) => setTimeout(r, 100))
    return { body, events, calls, dropUpload }
  }, { token: config.token })
  console.log(JSON.stringify({ ok: true, ...result, logs }))
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error && error.stack || error), logs }))
} finally {
  await browser.close()
}
