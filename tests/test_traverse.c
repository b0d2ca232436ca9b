/* test_traverse.c: the latent traversal's layout (src/traverse.c): row order, sweep values, the latent
 * points of each cell and the marker cell, on shapes that cannot pass by accident (odd sizes, ties). */
#include <string.h>

#include "test.h"
#include "traverse.h"

static void test_order(void) {
    double kl[6] = {0.5, 3.0, 0.0, 3.0, 1.0, 0.01};
    int order[6];
    vae_traverse_order(kl, 6, order);
    int want[6] = {1, 3, 4, 0, 5, 2}; // ties keep the lower index first
    CHECK(memcmp(order, want, sizeof want) == 0, "order %d %d %d %d %d %d", order[0], order[1], order[2], order[3],
          order[4], order[5]);
}

static void test_values_and_z(void) {
    CHECK_CLOSE(vae_traverse_value(0, 7, 3.0), -3.0, 1e-12);
    CHECK_CLOSE(vae_traverse_value(3, 7, 3.0), 0.0, 1e-12);
    CHECK_CLOSE(vae_traverse_value(6, 7, 3.0), 3.0, 1e-12);
    CHECK_CLOSE(vae_traverse_value(0, 1, 3.0), 0.0, 1e-12);
    enum { Z = 3, STEPS = 5, ROWS = 2 };
    float base[Z] = {0.25f, -1.5f, 2.0f}, z[ROWS * STEPS * Z];
    int order[Z] = {2, 0, 1};
    vae_traverse_z(z, base, order, ROWS, Z, STEPS, 2.0);
    for (int r = 0; r < ROWS; r++)
        for (int k = 0; k < STEPS; k++)
            for (int d = 0; d < Z; d++) {
                float got = z[(r * STEPS + k) * Z + d];
                float want = d == order[r] ? (float)(-2.0 + k) : base[d];
                CHECK(got == want, "row %d step %d dim %d: %g, want %g", r, k, d, got, want);
            }
}

static void test_marker(void) {
    enum { H = 5, W = 7, C = 3 };
    float cell[H * W * C];
    vae_traverse_marker(cell, H, W, C, 3.0 / 7.0, 0);
    // band: h / 5 = 1 row, at (5 - 1) / 2 = 2; bar 3 pixels long
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            float want = (y == 2 && x < 3) ? 1.0f : 0.0f;
            for (int k = 0; k < C; k++) CHECK(cell[(y * W + x) * C + k] == want, "bar pixel %d,%d", y, x);
        }
    vae_traverse_marker(cell, H, W, 1, 2.0, 1); // frac clamped to 1; crossed out
    CHECK(cell[0] == 0.5f && cell[W - 1] == 0.5f, "the cross starts in both top corners");
    CHECK(cell[(H - 1) * W] == 0.5f && cell[(H - 1) * W + W - 1] == 0.5f, "and ends in both bottom corners");
    CHECK(cell[2 * W + 1] == 1.0f, "the bar shows beside the cross");
    CHECK(cell[1 * W + 3] == 0.0f, "background away from the cross and bar");
}

int main(void) {
    test_order();
    test_values_and_z();
    test_marker();
    TEST_MAIN_END();
}
