/* Hashes one picture at a time for the on-device page, off the page's thread.
 *
 * It receives a File (or raw pixels, for the tests that compare with pdqhash), decodes it in the
 * browser, and answers with the hashes only: PDQ and its quality, the 8 rotated and mirrored
 * PDQs, MD5 and SHA-256 of the file's bytes, and the picture's size. It never opens a connection:
 * the server sends this script with a Content-Security-Policy of its own whose connect-src is
 * 'none', so even a bug here could not send anything anywhere.
 *
 * Decoding follows the server's decoder where the browser lets it: the EXIF orientation is
 * applied, colour profiles are ignored (colorSpaceConversion "none", as Pillow does), and
 * transparent pixels are flattened onto white.
 */
/* global StaydownPdq */
importScripts("pdq.js");

// Above this many pixels a picture needs too much memory to hash on a phone (4 bytes a pixel to
// decode, 8 more for the filter): the page says so and asks for a smaller copy.
var MAX_PIXELS = 50000000;
// Rows read from the canvas at a time, so that the RGBA copy never holds the whole picture.
var STRIP_ROWS = 256;

function fail(id, code, message) {
  self.postMessage({ id: id, ok: false, code: code, message: message });
}

async function decode(file) {
  var bitmap;
  try {
    bitmap = await createImageBitmap(file, {
      imageOrientation: "from-image",
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
    });
  } catch (e) {
    return null;
  }
  var width = bitmap.width, height = bitmap.height;
  if (width * height > MAX_PIXELS) {
    bitmap.close();
    return { tooLarge: true, width: width, height: height };
  }
  var canvas = new OffscreenCanvas(width, height);
  var ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  var luma = new Float32Array(width * height);
  for (var top = 0; top < height; top += STRIP_ROWS) {
    var rows = Math.min(STRIP_ROWS, height - top);
    var strip = ctx.getImageData(0, top, width, rows).data;
    StaydownPdq.lumaFromBytes(strip, width, rows, 4, luma, top);
  }
  return { luma: luma, width: width, height: height };
}

function hashes(luma, width, height) {
  var dihedral = StaydownPdq.pdqDihedral(luma, height, width);
  return {
    pdq: dihedral.variants[0].pdq,
    quality: dihedral.quality,
    variants: dihedral.variants.slice(1),
  };
}

self.onmessage = async function (event) {
  var msg = event.data, id = msg.id;
  try {
    if (msg.pixels) {
      // Raw RGB or RGBA bytes: the same pixels pdqhash is given, for the bit-for-bit comparison.
      var luma = StaydownPdq.lumaFromBytes(new Uint8Array(msg.pixels), msg.width, msg.height, msg.channels);
      self.postMessage({ id: id, ok: true, width: msg.width, height: msg.height,
                         ...hashes(luma, msg.width, msg.height) });
      return;
    }
    var started = performance.now();
    var bytes = new Uint8Array(await msg.file.arrayBuffer());
    var decoded = await decode(msg.file);
    if (decoded === null) {
      fail(id, "unreadable", "This file is not a picture this browser can open.");
      return;
    }
    if (decoded.tooLarge) {
      fail(id, "too_large", "This picture is too large to fingerprint on this device.");
      return;
    }
    var result = hashes(decoded.luma, decoded.width, decoded.height);
    var sha = StaydownPdq.hex(await crypto.subtle.digest("SHA-256", bytes));
    self.postMessage({ id: id, ok: true, width: decoded.width, height: decoded.height,
                       md5: StaydownPdq.md5(bytes), sha256: sha, ms: Math.round(performance.now() - started),
                       ...result });
  } catch (e) {
    fail(id, "failed", "This picture could not be fingerprinted.");
  }
};
