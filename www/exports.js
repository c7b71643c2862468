// Files the page hands to the user: results JSON, plot SVG/PNG, plot numbers as CSV,
// checkpoints (safetensors). Every download goes through `download`.

/** Saves `blob` as a file named `name` (a click on a temporary link). */
export function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 2000);
}

export const downloadJson = (name, text) => download(name, new Blob([text], { type: 'application/json' }));
export const downloadSvg = (name, svgText) => download(name, new Blob([svgText], { type: 'image/svg+xml' }));
export const downloadCsv = (name, table) => download(name, new Blob([toCsv(table)], { type: 'text/csv' }));
export const downloadBytes = (name, bytes) => download(name, new Blob([bytes], { type: 'application/octet-stream' }));
export const downloadPng = async (name, svgText) => download(name, await pngOf(svgText));

/** A table {header, rows} (www/tables.js) as CSV text (RFC 4180: a cell with a comma, a
 * quote or a line break is quoted); missing values are empty cells. */
export function toCsv({ header, rows }) {
  const cell = (v) => {
    const t = String(v ?? '');
    return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  return `${[header, ...rows].map((row) => row.map(cell).join(',')).join('\n')}\n`;
}

/** An SVG string as a PNG blob (drawn on a canvas, on white, at twice the chart's size:
 * sharp on a slide or in print). */
export async function pngOf(svgText, scale = 2) {
  const img = new Image();
  const url = URL.createObjectURL(new Blob([svgText], { type: 'image/svg+xml' }));
  try {
    img.src = url;
    await img.decode();
    const canvas = document.createElement('canvas');
    const [w, h] = [img.naturalWidth || 640, img.naturalHeight || 400];
    canvas.width = w * scale;
    canvas.height = h * scale;
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    return await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
  } finally {
    URL.revokeObjectURL(url);
  }
}
