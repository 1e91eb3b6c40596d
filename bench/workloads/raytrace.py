# SPDX-License-Identifier: Apache-2.0
"""Raytracer-like workload: a small vector class, ray/sphere intersection,
Lambert + Phong shading with shadow rays and one reflection bounce.

Usage: python3 raytrace.py [SIZE]   (SIZE = image width and height in pixels)
Prints a checksum so the work cannot be skipped.
"""
import math
import sys


class Vec:
    __slots__ = ("x", "y", "z")

    def __init__(self, x, y, z):
        self.x = x
        self.y = y
        self.z = z

    def __add__(self, o):
        return Vec(self.x + o.x, self.y + o.y, self.z + o.z)

    def __sub__(self, o):
        return Vec(self.x - o.x, self.y - o.y, self.z - o.z)

    def scale(self, k):
        return Vec(self.x * k, self.y * k, self.z * k)

    def mul(self, o):
        return Vec(self.x * o.x, self.y * o.y, self.z * o.z)

    def dot(self, o):
        return self.x * o.x + self.y * o.y + self.z * o.z

    def norm(self):
        n = math.sqrt(self.dot(self))
        return self.scale(1.0 / n) if n > 0.0 else self


class Ray:
    __slots__ = ("origin", "direction")

    def __init__(self, origin, direction):
        self.origin = origin
        self.direction = direction

    def at(self, t):
        return self.origin + self.direction.scale(t)


class Material:
    __slots__ = ("color", "diffuse", "specular", "shine", "reflect")

    def __init__(self, color, diffuse, specular, shine, reflect):
        self.color = color
        self.diffuse = diffuse
        self.specular = specular
        self.shine = shine
        self.reflect = reflect


class Sphere:
    __slots__ = ("center", "radius", "r2", "material")

    def __init__(self, center, radius, material):
        self.center = center
        self.radius = radius
        self.r2 = radius * radius
        self.material = material

    def intersect(self, ray):
        """Smallest t > epsilon where the ray meets the sphere, or None."""
        oc = ray.origin - self.center
        b = oc.dot(ray.direction)
        c = oc.dot(oc) - self.r2
        disc = b * b - c
        if disc < 0.0:
            return None
        root = math.sqrt(disc)
        t = -b - root
        if t > 1e-4:
            return t
        t = -b + root
        if t > 1e-4:
            return t
        return None

    def normal(self, p):
        return (p - self.center).scale(1.0 / self.radius)


class Scene:
    def __init__(self):
        self.objects = [
            Sphere(Vec(0.0, -1000.0, 0.0), 999.0, Material(Vec(0.6, 0.6, 0.5), 0.9, 0.1, 8, 0.1)),
            Sphere(Vec(-1.2, 0.0, 4.0), 1.0, Material(Vec(0.9, 0.2, 0.2), 0.7, 0.5, 32, 0.3)),
            Sphere(Vec(1.1, -0.3, 3.2), 0.7, Material(Vec(0.2, 0.4, 0.9), 0.6, 0.8, 64, 0.5)),
            Sphere(Vec(0.2, 0.9, 5.5), 0.9, Material(Vec(0.3, 0.8, 0.3), 0.8, 0.2, 16, 0.2)),
            Sphere(Vec(-0.3, -0.7, 2.4), 0.3, Material(Vec(0.9, 0.9, 0.2), 0.5, 0.9, 128, 0.6)),
        ]
        self.lights = [(Vec(-4.0, 5.0, -1.0), 0.8), (Vec(3.0, 3.0, 0.5), 0.5)]
        self.ambient = 0.08
        self.sky = Vec(0.5, 0.7, 1.0)

    def hit(self, ray):
        best_t = math.inf
        best = None
        for obj in self.objects:
            t = obj.intersect(ray)
            if t is not None and t < best_t:
                best_t = t
                best = obj
        return best, best_t

    def shadowed(self, point, to_light, dist):
        ray = Ray(point, to_light)
        for obj in self.objects:
            t = obj.intersect(ray)
            if t is not None and t < dist:
                return True
        return False

    def shade(self, ray, depth):
        obj, t = self.hit(ray)
        if obj is None:
            k = 0.5 * (ray.direction.y + 1.0)
            return self.sky.scale(k) + Vec(1.0, 1.0, 1.0).scale(1.0 - k)
        mat = obj.material
        p = ray.at(t)
        n = obj.normal(p)
        color = mat.color.scale(self.ambient)
        for pos, power in self.lights:
            to_light = pos - p
            dist = math.sqrt(to_light.dot(to_light))
            to_light = to_light.scale(1.0 / dist)
            if self.shadowed(p, to_light, dist):
                continue
            lam = n.dot(to_light)
            if lam > 0.0:
                color = color + mat.color.scale(mat.diffuse * lam * power)
            refl = n.scale(2.0 * n.dot(to_light)) - to_light
            spec = -refl.dot(ray.direction)
            if spec > 0.0:
                color = color + Vec(1.0, 1.0, 1.0).scale(mat.specular * power * spec ** mat.shine)
        if depth > 0 and mat.reflect > 0.0:
            d = ray.direction
            rd = (d - n.scale(2.0 * d.dot(n))).norm()
            bounce = self.shade(Ray(p, rd), depth - 1)
            color = color.scale(1.0 - mat.reflect) + bounce.scale(mat.reflect)
        return color


def render(size):
    scene = Scene()
    eye = Vec(0.0, 0.3, -1.0)
    total = 0
    for j in range(size):
        y = 1.0 - 2.0 * (j + 0.5) / size
        for i in range(size):
            x = -1.0 + 2.0 * (i + 0.5) / size
            ray = Ray(eye, Vec(x, y, 1.5).norm())
            c = scene.shade(ray, 2)
            r = min(255, int(255.0 * c.x))
            g = min(255, int(255.0 * c.y))
            b = min(255, int(255.0 * c.z))
            total += (r * 3 + g * 5 + b * 7) & 0xFF
    return total


def main():
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 160
    print(f"raytrace size={size} checksum={render(size)}")


if __name__ == "__main__":
    main()
