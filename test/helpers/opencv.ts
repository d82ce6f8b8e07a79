// opencv-js (OpenCV 4.5 compiled to WebAssembly, @techstark/opencv-js) as a test oracle: loaded once per test file
// (about a second), behind a small typed surface of the calls the tests use. The module is an Emscripten thenable:
// it is handed out wrapped in an object, since awaiting it (or returning it from an async function) never settles.
import { createRequire } from 'node:module';

export interface CvMat {
  data: Uint8Array;
  rows: number;
  cols: number;
  type(): number;
  delete(): void;
}

/** A Mat of 32-bit integers (labels, stats of connectedComponentsWithStats). */
export interface CvMat32 extends CvMat {
  data32S: Int32Array;
  data32F: Float32Array;
}

export interface CvRotatedRect {
  center: { x: number; y: number };
  size: { width: number; height: number };
  angle: number;
}

export interface OpenCv {
  Mat: { new (): CvMat32; new (rows: number, cols: number, type: number): CvMat32; ones(rows: number, cols: number, type: number): CvMat };
  CV_8UC3: number;
  CV_8UC1: number;
  CV_32S: number;
  CV_32F: number;
  CV_32SC2: number;
  THRESH_BINARY: number;
  matFromArray(rows: number, cols: number, type: number, data: ArrayLike<number>): CvMat32;
  threshold(src: CvMat, dst: CvMat, thresh: number, maxval: number, type: number): number;
  /** connectedComponentsWithStats(image, labels, stats, centroids, connectivity, ltype) -> number of labels (with 0). */
  connectedComponentsWithStats(src: CvMat, labels: CvMat, stats: CvMat, centroids: CvMat, connectivity: number, ltype: number): number;
  minAreaRect(points: CvMat): CvRotatedRect;
  RotatedRect: { points(r: CvRotatedRect): { x: number; y: number }[] };
  COLOR_RGB2HSV: number;
  COLOR_BGR2HSV: number;
  COLOR_RGB2GRAY: number;
  cvtColor(src: CvMat, dst: CvMat, code: number): void;
  absdiff(a: CvMat, b: CvMat, dst: CvMat): void;
  /** Canny(image, edges, threshold1, threshold2[, apertureSize = 3, L2gradient = false]). */
  Canny(src: CvMat, dst: CvMat, t1: number, t2: number, aperture?: number, l2?: boolean): void;
  /** dilate(src, dst, kernel) with the default anchor (centre), one iteration and the default border. */
  dilate(src: CvMat, dst: CvMat, kernel: CvMat): void;
  Size: new (width: number, height: number) => unknown;
  INTER_LINEAR: number;
  /** resize(src, dst, dsize, fx, fy, interpolation). */
  resize(src: CvMat, dst: CvMat, dsize: unknown, fx: number, fy: number, interpolation: number): void;
}

let loading: Promise<{ cv: OpenCv }> | null = null;

/** `const { cv } = await loadOpenCv()`: never `return cv` from an async function (it is a thenable). */
export function loadOpenCv(): Promise<{ cv: OpenCv }> {
  loading ??= new Promise((resolve) => {
    const mod = createRequire(import.meta.url)('@techstark/opencv-js') as OpenCv & { onRuntimeInitialized?: () => void };
    if (typeof (mod as Partial<OpenCv>).Mat === 'function' && typeof mod.cvtColor === 'function') resolve({ cv: mod });
    else mod.onRuntimeInitialized = () => resolve({ cv: mod });
  });
  return loading;
}

/** A Mat holding a copy of `bytes` (rows x cols, 1 or 3 channels of uint8). */
export function matFrom(cv: OpenCv, bytes: Uint8Array, rows: number, cols: number, channels: 1 | 3): CvMat {
  const m = new cv.Mat(rows, cols, channels === 3 ? cv.CV_8UC3 : cv.CV_8UC1);
  m.data.set(bytes.subarray(0, rows * cols * channels));
  return m;
}

/** Runs fn with the Mats it creates deleted afterwards (the WebAssembly heap is not garbage-collected). */
export function withMats<T>(fn: (keep: <M extends CvMat>(m: M) => M) => T): T {
  const mats: CvMat[] = [];
  try {
    return fn((m) => {
      mats.push(m);
      return m;
    });
  } finally {
    for (const m of mats) m.delete();
  }
}
