"""make-example-image.py OUT.jpg - draws the example image that ships with
Stipple (examples/scene.jpg): a 640x480 synthetic street scene (sky, road,
houses, a sun, cars), our own drawing, so the project ships no third-party
picture. Deterministic: the same file every time."""
import sys

from PIL import Image, ImageDraw

W, H = 640, 480
img = Image.new("RGB", (W, H))
d = ImageDraw.Draw(img)
for y in range(H):   # sky gradient, then the road
    t = y / H
    d.line([(0, y), (W, y)], fill=(int(90 + 120 * t), int(150 + 80 * t), 235) if y < 300
           else (70, 72, 78))
d.ellipse([520, 30, 590, 100], fill=(255, 214, 64))
for i, (x, w, h, c) in enumerate([(20, 140, 150, (178, 84, 60)), (190, 110, 190, (220, 200, 160)),
                                  (330, 160, 130, (120, 140, 170)), (520, 100, 170, (190, 120, 150))]):
    d.rectangle([x, 300 - h, x + w, 300], fill=c)
    d.polygon([(x - 8, 300 - h), (x + w // 2, 300 - h - 50), (x + w + 8, 300 - h)], fill=(90, 50, 40))
    for wx in range(x + 15, x + w - 25, 40):
        d.rectangle([wx, 300 - h + 25, wx + 20, 300 - h + 55], fill=(250, 240, 180))
d.rectangle([0, 385, W, 395], fill=(230, 230, 230))
for x, c in [(60, (200, 30, 40)), (300, (30, 90, 200)), (470, (240, 240, 240))]:
    d.rounded_rectangle([x, 330, x + 130, 372], radius=12, fill=c)
    d.rounded_rectangle([x + 25, 305, x + 100, 335], radius=10, fill=tuple(v * 3 // 4 for v in c))
    for wx in (x + 25, x + 105):
        d.ellipse([wx - 15, 360, wx + 15, 390], fill=(20, 20, 20))
img.save(sys.argv[1], quality=90, optimize=True)
