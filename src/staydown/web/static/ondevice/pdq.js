/* PDQ, MD5 and the pixel steps before them, for hashing pictures on the person's own device.
 *
 * Written for staydown from the public description of Meta's PDQ (ThreatExchange pdq/README.md and
 * the hashing paper): luminance, a two-pass Jarosz box ("tent") filter with a window of 1/128 of each
 * side, 64 x 64 samples at the centres, the 16 x 16 lowest DCT frequencies, one bit per coefficient
 * above their median, and the gradient-count quality. Every step rounds to 32-bit floats in the order
 * the reference computes it (Math.fround after each operation), because the aim is the same bits as
 * `pdqhash` on the same pixels, not a close approximation: a float64 filter moved hashes by a bit or
 * two. (A sum or product of two float32 values computed in float64 and then rounded to float32 is
 * the correctly rounded float32 result, so this is exact, not a simulation.)
 *
 * Runs in a Web Worker (worker.js) and in plain pages alike: everything hangs off one global,
 * StaydownPdq, and nothing here touches the network.
 */
(function (root) {
  "use strict";

  var f = Math.fround;
  var MIN_HASHABLE_DIM = 5;

  // DCT-II rows 1..16 of a 64-point transform, as float32 (the reference builds the same table:
  // a float scale times a double cosine, rounded to float).
  var DCT = (function () {
    var scale = f(Math.sqrt(2.0 / 64));
    var m = new Float32Array(16 * 64);
    for (var i = 0; i < 16; i++) {
      for (var j = 0; j < 64; j++) {
        m[i * 64 + j] = f(scale * Math.cos((Math.PI / 2.0 / 64) * (i + 1) * (2 * j + 1)));
      }
    }
    return m;
  })();

  /* Luminance from RGB(A) bytes, as pdqhash computes it: 0.299 R + 0.587 G + 0.114 B in double,
   * stored as float32. Pixels with alpha are first flattened onto white the way the server's
   * decoder does (Pillow's paste with the alpha as mask: (c*a + 255*(255-a) + 128) / 255, rounded
   * as Pillow's DIV255). `channels` is 3 (RGB) or 4 (RGBA). */
  function lumaFromBytes(bytes, width, height, channels, out, offsetRows) {
    var luma = out || new Float32Array(width * height);
    var base = (offsetRows || 0) * width;
    var n = width * height;
    for (var p = 0, s = 0; p < n; p++, s += channels) {
      var r = bytes[s], g = bytes[s + 1], b = bytes[s + 2];
      if (channels === 4) {
        var a = bytes[s + 3];
        if (a !== 255) {
          r = div255(r * a + 255 * (255 - a));
          g = div255(g * a + 255 * (255 - a));
          b = div255(b * a + 255 * (255 - a));
        }
      }
      luma[base + p] = r * 0.299 + g * 0.587 + b * 0.114;
    }
    return luma;
  }

  function div255(v) {
    var t = v + 128;
    return ((t >> 8) + t) >> 8;
  }

  function windowSize(oldDimension) {
    // computeJaroszFilterWindowSize(old, 64): round up old / 128.
    return Math.floor((oldDimension + 2 * 64 - 1) / (2 * 64));
  }

  /* One box pass along a line: the window grows at the start and shrinks at the end, and the
   * running float32 sum adds the entering pixel before subtracting the leaving one. */
  function box1D(src, dst, start, length, stride, win) {
    var half = Math.floor((win + 2) / 2);
    var phase1 = half - 1, phase2 = win - half + 1, phase3 = length - win, phase4 = half - 1;
    var li = start, ri = start, oi = start, sum = 0, size = 0, i;
    for (i = 0; i < phase1; i++) {
      sum = f(sum + src[ri]);
      size++;
      ri += stride;
    }
    for (i = 0; i < phase2; i++) {
      sum = f(sum + src[ri]);
      size++;
      dst[oi] = sum / size;
      ri += stride;
      oi += stride;
    }
    for (i = 0; i < phase3; i++) {
      sum = f(sum + src[ri]);
      sum = f(sum - src[li]);
      dst[oi] = sum / size;
      li += stride;
      ri += stride;
      oi += stride;
    }
    for (i = 0; i < phase4; i++) {
      sum = f(sum - src[li]);
      size--;
      dst[oi] = sum / size;
      li += stride;
      oi += stride;
    }
  }

  /* box1D down every column at once: the same operations in the same order for each column (so
   * the same bits), but walking memory row by row instead of a column's stride (5x faster on a
   * 12-megapixel photo). `sums` is a Float32Array, so every store rounds to float32. */
  function boxColumns(src, dst, rows, cols, win) {
    var half = Math.floor((win + 2) / 2);
    var phase1 = half - 1, phase2 = win - half + 1, phase3 = rows - win, phase4 = half - 1;
    var sums = new Float32Array(cols), li = 0, ri = 0, oi = 0, size = 0, i, c, r, l, o;
    for (i = 0; i < phase1; i++, ri += cols) {
      for (c = 0; c < cols; c++) sums[c] += src[ri + c];
      size++;
    }
    for (i = 0; i < phase2; i++, ri += cols, oi += cols) {
      size++;
      for (c = 0, r = ri, o = oi; c < cols; c++) {
        sums[c] += src[r + c];
        dst[o + c] = sums[c] / size;
      }
    }
    for (i = 0; i < phase3; i++, ri += cols, li += cols, oi += cols) {
      for (c = 0, r = ri, l = li, o = oi; c < cols; c++) {
        sums[c] += src[r + c];
        sums[c] -= src[l + c];
        dst[o + c] = sums[c] / size;
      }
    }
    for (i = 0; i < phase4; i++, li += cols, oi += cols) {
      size--;
      for (c = 0, l = li, o = oi; c < cols; c++) {
        sums[c] -= src[l + c];
        dst[o + c] = sums[c] / size;
      }
    }
  }

  /* Two passes of (rows, then columns); the result is left in buf1 (buf2 is scratch). */
  function jarosz(buf1, buf2, rows, cols) {
    var alongRows = windowSize(cols), alongCols = windowSize(rows), rep, i;
    for (rep = 0; rep < 2; rep++) {
      for (i = 0; i < rows; i++) box1D(buf1, buf2, i * cols, cols, 1, alongRows);
      boxColumns(buf2, buf1, rows, cols, alongCols);
    }
  }

  /* The 64 x 64 samples at the centres of a 64 x 64 grid over the filtered image. */
  function decimate(buf, rows, cols) {
    var out = new Float32Array(64 * 64);
    for (var oi = 0; oi < 64; oi++) {
      var ii = Math.floor(((oi + 0.5) * rows) / 64);
      for (var oj = 0; oj < 64; oj++) {
        var jj = Math.floor(((oj + 0.5) * cols) / 64);
        out[oi * 64 + oj] = buf[ii * cols + jj];
      }
    }
    return out;
  }

  /* PDQ's quality: gradients between neighbouring samples, each truncated to whole units of
   * 100/255, summed, divided by 90 and capped at 100. */
  function quality(a) {
    var sum = 0, i, j, d;
    for (i = 0; i < 63; i++) {
      for (j = 0; j < 64; j++) {
        d = Math.trunc(f(f(f(a[i * 64 + j] - a[(i + 1) * 64 + j]) * 100) / 255));
        sum += Math.abs(d);
      }
    }
    for (i = 0; i < 64; i++) {
      for (j = 0; j < 63; j++) {
        d = Math.trunc(f(f(f(a[i * 64 + j] - a[i * 64 + j + 1]) * 100) / 255));
        sum += Math.abs(d);
      }
    }
    return Math.min(100, Math.floor(sum / 90));
  }

  /* B = D A D^T, accumulating in float32 in the reference's order. */
  function dct16(a) {
    var t = new Float32Array(16 * 64), b = new Float32Array(16 * 16), i, j, k, s;
    for (i = 0; i < 16; i++) {
      for (j = 0; j < 64; j++) {
        s = 0;
        for (k = 0; k < 64; k++) s = f(s + f(DCT[i * 64 + k] * a[k * 64 + j]));
        t[i * 64 + j] = s;
      }
    }
    for (i = 0; i < 16; i++) {
      for (j = 0; j < 16; j++) {
        s = 0;
        for (k = 0; k < 64; k++) s = f(s + f(t[i * 64 + k] * DCT[j * 64 + k]));
        b[i * 16 + j] = s;
      }
    }
    return b;
  }

  /* Torben Mogensen's median (the lower one for an even count), as the reference finds it. */
  function torben(m) {
    var n = m.length, i, min = m[0], max = m[0];
    for (i = 1; i < n; i++) {
      if (m[i] < min) min = m[i];
      if (m[i] > max) max = m[i];
    }
    var less, greater, equal, guess, maxlt, mingt, half = Math.floor((n + 1) / 2);
    for (;;) {
      guess = f(f(min + max) / 2);
      less = 0; greater = 0; equal = 0;
      maxlt = min; mingt = max;
      for (i = 0; i < n; i++) {
        if (m[i] < guess) {
          less++;
          if (m[i] > maxlt) maxlt = m[i];
        } else if (m[i] > guess) {
          greater++;
          if (m[i] < mingt) mingt = m[i];
        } else {
          equal++;
        }
      }
      if (less <= half && greater <= half) break;
      if (less > greater) max = maxlt; else min = mingt;
    }
    if (less >= half) return maxlt;
    if (less + equal >= half) return guess;
    return mingt;
  }

  var HEX = "0123456789abcdef";

  /* 64 hex digits, most significant word first (bit k is bit k%16 of word k/16). */
  function bitsToHex(coeffs) {
    var median = torben(coeffs), words = new Array(16).fill(0), k;
    for (k = 0; k < 256; k++) if (coeffs[k] > median) words[k >> 4] |= 1 << (k & 15);
    var out = "";
    for (var w = 15; w >= 0; w--) {
      for (var shift = 12; shift >= 0; shift -= 4) out += HEX[(words[w] >> shift) & 15];
    }
    return out;
  }

  var ZERO_HASH = new Array(65).join("0");

  /* PDQ of float luminance (rows x cols, row-major). `luma` is overwritten by the filter unless
   * `keep` is set. Returns {pdq, quality}. */
  function pdqFromLuma(luma, rows, cols, keep) {
    if (rows < MIN_HASHABLE_DIM || cols < MIN_HASHABLE_DIM) return { pdq: ZERO_HASH, quality: 0 };
    var samples;
    if (rows === 64 && cols === 64) {
      samples = new Float32Array(luma);
    } else {
      var buf1 = keep ? new Float32Array(luma) : luma;
      jarosz(buf1, new Float32Array(rows * cols), rows, cols);
      samples = decimate(buf1, rows, cols);
    }
    return { pdq: bitsToHex(dct16(samples)), quality: quality(samples) };
  }

  // The 8 dihedral transforms, named and ordered as the server's media.hashing.DIHEDRAL_NAMES.
  var DIHEDRAL_NAMES = ["original", "rotate90", "rotate180", "rotate270", "flip_x", "flip_y",
                        "transpose", "transverse"];

  /* The luminance of one dihedral transform of the image: [pixels, rows, cols], named as the
   * server names them (media.hashing.pdq_dihedral_exact): rotate90 is the upside-down picture
   * transposed (a quarter turn clockwise), rotate270 the mirrored one transposed, flip_x upside
   * down, flip_y mirrored left-right, transpose swaps rows and columns, transverse is the
   * anti-transpose. */
  function transformed(luma, rows, cols, name) {
    var out = new Float32Array(rows * cols), r, c;
    switch (name) {
      case "original":
        out.set(luma);
        return [out, rows, cols];
      case "rotate180":
        for (r = 0; r < rows; r++) for (c = 0; c < cols; c++) out[(rows - 1 - r) * cols + (cols - 1 - c)] = luma[r * cols + c];
        return [out, rows, cols];
      case "flip_x":
        for (r = 0; r < rows; r++) out.set(luma.subarray(r * cols, (r + 1) * cols), (rows - 1 - r) * cols);
        return [out, rows, cols];
      case "flip_y":
        for (r = 0; r < rows; r++) for (c = 0; c < cols; c++) out[r * cols + (cols - 1 - c)] = luma[r * cols + c];
        return [out, rows, cols];
      case "transpose":  // new[c][r] = old[r][c]; new image is cols x rows
        for (r = 0; r < rows; r++) for (c = 0; c < cols; c++) out[c * rows + r] = luma[r * cols + c];
        return [out, cols, rows];
      case "rotate270":  // (mirrored).T: new[cols-1-c][r] = old[r][c]
        for (r = 0; r < rows; r++) for (c = 0; c < cols; c++) out[(cols - 1 - c) * rows + r] = luma[r * cols + c];
        return [out, cols, rows];
      case "rotate90":  // (upside down).T: new[c][rows-1-r] = old[r][c]
        for (r = 0; r < rows; r++) for (c = 0; c < cols; c++) out[c * rows + (rows - 1 - r)] = luma[r * cols + c];
        return [out, cols, rows];
      case "transverse":  // new[cols-1-c][rows-1-r] = old[r][c]
        for (r = 0; r < rows; r++) for (c = 0; c < cols; c++) out[(cols - 1 - c) * rows + (rows - 1 - r)] = luma[r * cols + c];
        return [out, cols, rows];
    }
    throw new Error("unknown transform " + name);
  }

  /* The hashes of the 8 rotated and mirrored pictures themselves (each one filtered on its own,
   * as hashing that turned or mirrored file would), in DIHEDRAL_NAMES order, with the
   * original's quality. Bit for bit what pdqhash gives for the transformed pixels. */
  function pdqDihedral(luma, rows, cols) {
    var out = [], q = 0;
    for (var i = 0; i < DIHEDRAL_NAMES.length; i++) {
      var t = transformed(luma, rows, cols, DIHEDRAL_NAMES[i]);
      var h = pdqFromLuma(t[0], t[1], t[2], false);
      if (i === 0) q = h.quality;
      out.push({ name: DIHEDRAL_NAMES[i], pdq: h.pdq });
    }
    return { quality: q, variants: out };
  }

  /* ---- MD5 (RFC 1321). Web Crypto has none; a file's MD5 is what NCMEC and other lists carry. */
  var MD5_S = [7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
               5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
               4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
               6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21];
  var MD5_K = (function () {
    var k = new Int32Array(64);
    for (var i = 0; i < 64; i++) k[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0;
    return k;
  })();

  function md5(bytes) {
    var n = bytes.length, padded = ((n + 8) >> 6) + 1, words = new Int32Array(padded * 16), i;
    // Whole words first (little-endian), then the tail, the 0x80 marker and the bit length.
    var view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), whole = n & ~3;
    for (i = 0; i < whole; i += 4) words[i >> 2] = view.getInt32(i, true);
    for (i = whole; i < n; i++) words[i >> 2] |= bytes[i] << ((i % 4) * 8);
    words[n >> 2] |= 0x80 << ((n % 4) * 8);
    words[padded * 16 - 2] = (n * 8) | 0;
    words[padded * 16 - 1] = Math.floor(n / 536870912);  // the high bits of the 64-bit bit length
    var a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
    for (var off = 0; off < words.length; off += 16) {
      var a = a0, b = b0, c = c0, d = d0, fx, g, tmp;
      for (i = 0; i < 64; i++) {
        if (i < 16) { fx = (b & c) | (~b & d); g = i; }
        else if (i < 32) { fx = (d & b) | (~d & c); g = (5 * i + 1) & 15; }
        else if (i < 48) { fx = b ^ c ^ d; g = (3 * i + 5) & 15; }
        else { fx = c ^ (b | ~d); g = (7 * i) & 15; }
        tmp = d;
        d = c;
        c = b;
        var sum = (a + fx + MD5_K[i] + words[off + g]) | 0;
        b = (b + ((sum << MD5_S[i]) | (sum >>> (32 - MD5_S[i])))) | 0;
        a = tmp;
      }
      a0 = (a0 + a) | 0; b0 = (b0 + b) | 0; c0 = (c0 + c) | 0; d0 = (d0 + d) | 0;
    }
    var out = "";
    [a0, b0, c0, d0].forEach(function (w) {
      for (var j = 0; j < 4; j++) {
        var byte = (w >>> (8 * j)) & 255;
        out += HEX[byte >> 4] + HEX[byte & 15];
      }
    });
    return out;
  }

  function hex(buffer) {
    var bytes = new Uint8Array(buffer), out = "";
    for (var i = 0; i < bytes.length; i++) out += HEX[bytes[i] >> 4] + HEX[bytes[i] & 15];
    return out;
  }

  root.StaydownPdq = {
    DIHEDRAL_NAMES: DIHEDRAL_NAMES,
    DCT: DCT,
    lumaFromBytes: lumaFromBytes,
    pdqFromLuma: pdqFromLuma,
    pdqDihedral: pdqDihedral,
    md5: md5,
    hex: hex,
  };
})(globalThis);
