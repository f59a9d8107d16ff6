// What the test page loads: Uppy's core and its S3 plugin, bundled by esbuild into dist/uppy-bundle.mjs.
export { default as Uppy } from '@uppy/core'
export { default as AwsS3 } from '@uppy/aws-s3'
