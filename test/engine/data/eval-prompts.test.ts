// Prompt-following evaluation scored on generators whose answers are known: one that renders exactly what each
// prompt asks (everything correct), one that gets the colour wrong, one that shows nothing.
import { describe, expect, it } from 'vitest';
import { confusion, confusionLines, contactSheet, evaluatePrompts, heldOutPrompts, type EvalSample, type VideoGenerator } from '../../../engine/data/eval-prompts.js';
import { SHAPE_COLOURS, randomGeometry, renderClip, type Attributes, type ShapeColour } from '../../../engine/data/synth.js';
import { mulberry32 } from '../../../engine/mulberry32.js';

const settings = { frames: 5, width: 48, height: 48, steps: 1, guidance: 1, seeds: 2, seed: 10 };

/** A generator that renders the attributes `edit` makes of the prompt's (parsed back from the caption). */
function renderer(edit: (a: Attributes) => Attributes): VideoGenerator {
  return {
    async generate(o) {
      const m = /^a (\w+) (\w+) moving (\w+) on a (\w+) background$/.exec(o.prompt)!;
      const a = edit({ colour: m[1], shape: m[2], direction: m[3], background: m[4] } as Attributes);
      const clip = renderClip('x', a, randomGeometry(mulberry32(o.seed!), a.direction, { width: o.width!, height: o.height!, frames: o.frames! }), { width: o.width!, height: o.height!, frames: o.frames! });
      return { video: { width: clip.width, height: clip.height, frames: clip.frames } };
    },
  };
}

describe('eval-prompts', () => {
  const prompts = heldOutPrompts().slice(0, 6);

  it('scores a generator that follows every prompt at 100%', async () => {
    const seen: number[] = [];
    const r = await evaluatePrompts(renderer((a) => a), prompts, settings, (done) => seen.push(done));
    expect(r.samples.length).toBe(12);
    expect(seen).toEqual([...Array(12).keys()].map((i) => i + 1));
    expect(r.accuracy).toEqual({ colour: 1, shape: 1, direction: 1, background: 1, all: 1 });
    expect(r.samples.map((s) => s.seed)).toEqual(prompts.flatMap(() => [10, 11]));
  });

  it('scores each attribute on its own: a wrong colour costs only the colour', async () => {
    const colours = Object.keys(SHAPE_COLOURS) as ShapeColour[];
    const wrongColour = (a: Attributes): Attributes => {
      const c = colours.find((k) => k !== a.colour && (k as string) !== a.background)!;
      return { ...a, colour: c };
    };
    const r = await evaluatePrompts(renderer(wrongColour), prompts, settings);
    expect(r.accuracy).toEqual({ colour: 0, shape: 1, direction: 1, background: 1, all: 0 });
    // the confusion rows: every wanted colour read back as wrongColour's pick, every direction as itself
    for (const [want, row] of Object.entries(confusion(r.samples, 'colour'))) expect(Object.keys(row).every((got) => got !== want)).toBe(true);
    const dirs = confusion(r.samples, 'direction');
    for (const [want, row] of Object.entries(dirs)) expect(Object.entries(row)).toEqual([[want, r.samples.filter((x) => x.want.direction === want).length]]);
    expect(confusionLines(r.samples, 'direction').length).toBe(Object.keys(dirs).length);
  });

  it('reads nothing from a blank video, and refuses an empty prompt list', async () => {
    const blank: VideoGenerator = { generate: async (o) => ({ video: { width: o.width!, height: o.height!, frames: [...Array(o.frames!)].map(() => new Uint8Array(o.width! * o.height! * 3)) } }) };
    const r = await evaluatePrompts(blank, prompts, { ...settings, seeds: 1 });
    expect(r.accuracy.shape).toBe(0);
    expect(r.accuracy.direction).toBe(0);
    expect(r.samples.every((s) => s.got.shape === 'none' && s.got.direction === 'none')).toBe(true);
    await expect(evaluatePrompts(blank, [], settings)).rejects.toThrow(/no prompts/);
  });

  it('passes the settings, the guidance mode included, to the generator', async () => {
    const asked: unknown[] = [];
    const spy: VideoGenerator = { generate: async (o) => (asked.push({ steps: o.steps, guidance: o.guidance, guidanceMode: o.guidanceMode }), renderer((a) => a).generate(o)) };
    await evaluatePrompts(spy, prompts.slice(0, 1), { ...settings, seeds: 1, steps: 7, guidance: 3, guidanceMode: 'constant' });
    await evaluatePrompts(spy, prompts.slice(0, 1), { ...settings, seeds: 1 });
    expect(asked).toEqual([{ steps: 7, guidance: 3, guidanceMode: 'constant' }, { steps: 1, guidance: 1, guidanceMode: undefined }]);
  });

  it('counts wanted -> read-back pairs, most read first', () => {
    const a = { colour: 'red', shape: 'circle', background: 'black' } as const;
    const sample = (want: string, got: string) => ({ want: { ...a, direction: want }, got: { ...a, direction: got } }) as unknown as EvalSample;
    const samples = [sample('left', 'up'), sample('left', 'left'), sample('down', 'none'), sample('left', 'up')];
    expect(confusionLines(samples, 'direction')).toEqual(['left -> up 2, left 1', 'down -> none 1']);
    expect(confusion(samples, 'direction').left).toEqual({ up: 2, left: 1 });
  });

  it('lays out a contact sheet of first and last frames', async () => {
    const r = await evaluatePrompts(renderer((a) => a), prompts.slice(0, 2), { ...settings, seeds: 1 });
    const sheet = contactSheet(r.samples, 48, 48);
    expect([sheet.width, sheet.height]).toEqual([98, 100]);
    // Row 1, right column, first pixel = the second sample's last frame's first pixel.
    const at = (x: number, y: number) => [...sheet.rgb.subarray((y * sheet.width + x) * 3, (y * sheet.width + x) * 3 + 3)];
    expect(at(50, 50)).toEqual([...r.samples[1]!.lastFrame.subarray(0, 3)]);
  });
});
