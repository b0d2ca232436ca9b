/* image.c: pictures (see image.h).
 *
 * Mosaics are built pixel by pixel in memory and encoded with stb_image_write, so every pixel is exactly
 * round(clamp(v, 0, 1) * 255) (NaN counts as 0). Plots are drawn with cairo on an ARGB image surface.
 * Both are written atomically through vae__atomic (fileio.h): a temporary file in the same folder,
 * flushed, fsync'ed, renamed over `path`, the folder fsync'ed; on any failure the temporary file is removed.
 *
 * Plot layout, from the outside in: margins sized from the measured text (title on top, x tick labels and
 * x label below, y label and y tick labels on the left), then the plot area with a light grid at the
 * ticks and a black frame. Axis ranges are the finite data range widened by 5% (an empty or constant
 * range is widened around its value); ticks are multiples of a 1-2-5 step inside it, 4 to 9 of them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* fsync, fdopen, M_PI */
#endif
#include "image.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cairo.h>
#include <stb_image_write.h>

#include "common.h"
#include "fileio.h"


/* ---------------------------------------------------------------- mosaics */

#define MOSAIC_MAX_SIDE 32768               /* pixels per side */
#define MOSAIC_MAX_PIXELS ((int64_t)1 << 26) /* 64 Mpx: stb encodes in memory, about 3 bytes per byte */

static uint8_t to_byte(float v) {
    if (!(v > 0.0f)) return 0;  /* NaN, negative, zero */
    if (v >= 1.0f) return 255;
    return (uint8_t)(v * 255.0f + 0.5f);
}

/* stb hands the whole PNG to the callback at once (it encodes in memory): keep a vae_malloc'ed copy. */
typedef struct {
    uint8_t *data;
    size_t len;
    int nomem;
} png_buffer;

static void png_buffer_cb(void *context, void *data, int size) {
    png_buffer *b = context;
    if (b->nomem || size <= 0) return;
    uint8_t *grown = vae_realloc(b->data, b->len + (size_t)size);
    if (!grown) {
        b->nomem = 1;
        return;
    }
    memcpy(grown + b->len, data, (size_t)size);
    b->data = grown;
    b->len += (size_t)size;
}

vae_status vae_mosaic_png(const char *name, uint8_t **png, size_t *png_len, const float *images, int n, int cols,
                          int h, int w, int c, int scale, int border) {
    if (!png || !png_len) return vae_fail(VAE_ERR_ARG, "mosaic: no output buffer");
    *png = NULL;
    *png_len = 0;
    if (!name || !*name) return vae_fail(VAE_ERR_ARG, "mosaic: no output path");
    const char *path = name;
    if (!images) return vae_fail(VAE_ERR_ARG, "mosaic '%s': no images", path);
    if (n < 1) return vae_fail(VAE_ERR_ARG, "mosaic '%s': need at least one image (n = %d)", path, n);
    if (cols < 1) return vae_fail(VAE_ERR_ARG, "mosaic '%s': columns must be >= 1 (got %d)", path, cols);
    if (h < 1 || w < 1)
        return vae_fail(VAE_ERR_ARG, "mosaic '%s': image size %dx%d must be at least 1x1", path, h, w);
    if (c != 1 && c != 3) return vae_fail(VAE_ERR_ARG, "mosaic '%s': channels must be 1 or 3 (got %d)", path, c);
    if (scale < 1 || scale > 64) return vae_fail(VAE_ERR_ARG, "mosaic '%s': scale must be 1..64 (got %d)", path, scale);
    if (border < 0 || border > 16)
        return vae_fail(VAE_ERR_ARG, "mosaic '%s': border must be 0..16 (got %d)", path, border);

    /* Output size in 64-bit: every factor is < 2^31, so no product below overflows. */
    int64_t rows = ((int64_t)n + cols - 1) / cols;
    int64_t cell_w = (int64_t)w * scale + border, cell_h = (int64_t)h * scale + border;
    int64_t out_w = cols * cell_w + border, out_h = rows * cell_h + border;
    if (out_w > MOSAIC_MAX_SIDE || out_h > MOSAIC_MAX_SIDE || out_w * out_h > MOSAIC_MAX_PIXELS)
        return vae_fail(VAE_ERR_ARG, "mosaic '%s': output of %lldx%lld pixels is too large (at most %d per side, %lld in all)",
                        path, (long long)out_w, (long long)out_h, MOSAIC_MAX_SIDE, (long long)MOSAIC_MAX_PIXELS);

    size_t stride = (size_t)out_w * (size_t)c;
    uint8_t *pixels = vae_malloc(stride * (size_t)out_h);
    if (!pixels) return vae_fail(VAE_ERR_NOMEM, "out of memory for mosaic '%s' (%lldx%lld)", path,
                                 (long long)out_w, (long long)out_h);
    memset(pixels, 128, stride * (size_t)out_h);

    /* images is (n, h, w, c); cell i sits at row i / cols, column i % cols. */
    size_t image_size = (size_t)h * (size_t)w * (size_t)c;
    for (int i = 0; i < n; i++) {
        const float *img = images + (size_t)i * image_size;
        size_t oy = (size_t)border + (size_t)(i / cols) * (size_t)cell_h;
        size_t ox = (size_t)border + (size_t)(i % cols) * (size_t)cell_w;
        for (int y = 0; y < h * scale; y++) {
            const float *src_row = img + (size_t)(y / scale) * (size_t)w * (size_t)c;
            uint8_t *dst = pixels + (oy + (size_t)y) * stride + ox * (size_t)c;
            for (int x = 0; x < w * scale; x++) {
                const float *src = src_row + (size_t)(x / scale) * (size_t)c;
                for (int k = 0; k < c; k++) *dst++ = to_byte(src[k]);
            }
        }
    }

    png_buffer b = {0};
    int ok = stbi_write_png_to_func(png_buffer_cb, &b, (int)out_w, (int)out_h, c, pixels, (int)stride);
    vae_mem_free(pixels);
    if (!ok || b.nomem || !b.len) {
        /* stb only fails on its own allocations (it uses malloc directly). */
        vae_mem_free(b.data);
        return vae_fail(VAE_ERR_NOMEM, "out of memory encoding '%s'", path);
    }
    *png = b.data;
    *png_len = b.len;
    return VAE_OK;
}

vae_status vae_write_mosaic(const char *path, const float *images, int n, int cols, int h, int w, int c,
                            int scale, int border) {
    uint8_t *png;
    size_t len;
    vae_status st = vae_mosaic_png(path, &png, &len, images, n, cols, h, w, c, scale, border);
    if (st != VAE_OK) return st;
    vae__atomic af;
    st = vae__atomic_open(&af, path);
    if (st != VAE_OK) {
        vae_mem_free(png);
        return st;
    }
    vae__atomic_write(&af, png, len);
    vae_mem_free(png);
    return vae__atomic_commit(&af);
}

/* ---------------------------------------------------------------- colours */

/* matplotlib's "tab10" palette, in its order. */
static const uint8_t tab10[10][3] = {
    {0x1f, 0x77, 0xb4}, {0xff, 0x7f, 0x0e}, {0x2c, 0xa0, 0x2c}, {0xd6, 0x27, 0x28}, {0x94, 0x67, 0xbd},
    {0x8c, 0x56, 0x4b}, {0xe3, 0x77, 0xc2}, {0x7f, 0x7f, 0x7f}, {0xbc, 0xbd, 0x22}, {0x17, 0xbe, 0xcf},
};

void vae_class_color(int k, double rgb[3]) {
    int i = k % 10;
    if (i < 0) i += 10;
    for (int j = 0; j < 3; j++) rgb[j] = tab10[i][j] / 255.0;
}

/* ---------------------------------------------------------------- plot frame */

#define PLOT_MIN_SIDE 200
#define PLOT_MAX_SIDE 8192
#define MAX_TICKS 32

typedef struct {
    double lo, hi;              /* axis range (data units) */
    double step;                /* tick step */
    int n_ticks;
    double ticks[MAX_TICKS];
    char labels[MAX_TICKS][32];
} axis;

/* A 1-2-5 step near raw (> 0), rounded up. */
static double nice_step(double raw) {
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    double m = f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0;
    return m * mag;
}

/* Axis over the finite data range [lo, hi] (NaN when there is no data): widen by 5% (a single value
 * by 10% of itself, or by 1 around zero), then ticks at multiples of a 1-2-5 step, 4 to 9 of them (at least
 * 1 apart when integers is set). */
static void make_axis(axis *a, double lo, double hi, int integers) {
    if (!isfinite(lo) || !isfinite(hi)) lo = 0.0, hi = 1.0;
    double range = hi - lo;
    if (!(range > 1e-9 * fmax(fabs(lo), fabs(hi)))) {
        double pad = lo != 0.0 ? 0.1 * fabs(lo) : 1.0;
        lo -= pad, hi += pad;
        range = hi - lo;
    }
    if (!isfinite(range)) lo /= 2, hi /= 2, range = hi - lo;  /* near DBL_MAX: keep something finite */
    a->lo = lo - 0.05 * range;
    a->hi = hi + 0.05 * range;
    a->step = nice_step((a->hi - a->lo) / 8.0);
    if (integers && a->step < 1.0) a->step = 1.0; // whole-number data (epochs): no ticks at 1.2, 1.4, ...
    a->n_ticks = 0;
    if (!isfinite(a->step) || a->step <= 0.0) return;
    double first = ceil(a->lo / a->step);
    double big = fmax(fabs(a->lo), fabs(a->hi));
    int decimals = a->step >= 1.0 ? 0 : (int)ceil(-log10(a->step) - 1e-9);
    for (int i = 0; i < MAX_TICKS; i++) {
        double t = (first + i) * a->step;
        if (t > a->hi + 1e-9 * a->step) break;
        if (fabs(t) < 1e-9 * a->step) t = 0.0;  /* no "-0" */
        a->ticks[a->n_ticks] = t;
        if (big >= 1e7 || a->step < 1e-4)
            snprintf(a->labels[a->n_ticks], sizeof a->labels[0], "%.4g", t);
        else
            snprintf(a->labels[a->n_ticks], sizeof a->labels[0], "%.*f", decimals, t);
        a->n_ticks++;
    }
}

typedef struct {
    cairo_surface_t *surface;
    cairo_t *cr;
    int width, height;
    double s;                           /* size factor: 1 at 800x600 */
    double font, label_font, title_font;
    double pad, tick_len;
    double left, right, top, bottom;    /* plot area in pixels */
    axis ax, ay;
} plot;

static double px_x(const plot *p, double x) { return p->left + (x - p->ax.lo) / (p->ax.hi - p->ax.lo) * (p->right - p->left); }
static double px_y(const plot *p, double y) { return p->bottom - (y - p->ay.lo) / (p->ay.hi - p->ay.lo) * (p->bottom - p->top); }

static double text_width(cairo_t *cr, const char *s) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    return e.x_advance;
}

static void set_font(cairo_t *cr, double size, int bold) {
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
}

/* Draw s with its anchor at (x, y): ha 0 left, 0.5 centre, 1 right; the line's ascent-descent box is
 * centred vertically on y. */
static void draw_text(cairo_t *cr, const char *s, double x, double y, double ha) {
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    cairo_move_to(cr, x - ha * text_width(cr, s), y + (fe.ascent - fe.descent) / 2.0);
    cairo_show_text(cr, s);
}

static double line_height(cairo_t *cr) {
    cairo_font_extents_t fe;
    cairo_font_extents(cr, &fe);
    return fe.ascent + fe.descent;
}

/* Sizes at 800x600 (pixels), scaled by plot_scale(). */
#define FONT_SIZE 13.0  /* ticks and legends */
#define PAD 10.0

/* Size factor: 1 at 800x600, following the smaller side; at least 0.8 (smaller text is unreadable). */
static double plot_scale(int width, int height) {
    return fmin(3.0, fmax(0.8, fmin(width / 800.0, height / 600.0)));
}

static vae_status check_plot_args(const char *what, const char *path, int width, int height) {
    if (!path || !*path) return vae_fail(VAE_ERR_ARG, "%s: no output path", what);
    if (width < PLOT_MIN_SIDE || width > PLOT_MAX_SIDE || height < PLOT_MIN_SIDE || height > PLOT_MAX_SIDE)
        return vae_fail(VAE_ERR_ARG, "%s '%s': size %dx%d must be %d..%d pixels per side", what, path, width, height,
                        PLOT_MIN_SIDE, PLOT_MAX_SIDE);
    return VAE_OK;
}

/* Create the surface and lay out the frame for the given data ranges; legend_w pixels are kept free on
 * the right (0: none). */
static vae_status plot_begin(plot *p, const char *path, int width, int height, double xlo, double xhi,
                             double ylo, double yhi, const char *title, const char *xlabel, const char *ylabel,
                             double legend_w_at_1, int x_integers) {
    memset(p, 0, sizeof *p);
    p->width = width, p->height = height;
    p->s = plot_scale(width, height);
    p->font = FONT_SIZE * p->s, p->label_font = 14 * p->s, p->title_font = 16 * p->s;
    p->pad = PAD * p->s, p->tick_len = 5 * p->s;
    make_axis(&p->ax, xlo, xhi, x_integers);
    make_axis(&p->ay, ylo, yhi, 0);

    p->surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    if (cairo_surface_status(p->surface) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(p->surface);
        p->surface = NULL;
        return vae_fail(VAE_ERR_NOMEM, "out of memory for plot '%s' (%dx%d)", path, width, height);
    }
    p->cr = cairo_create(p->surface);
    if (cairo_status(p->cr) != CAIRO_STATUS_SUCCESS) {
        cairo_destroy(p->cr);
        cairo_surface_destroy(p->surface);
        p->cr = NULL, p->surface = NULL;
        return vae_fail(VAE_ERR_NOMEM, "out of memory for plot '%s'", path);
    }
    cairo_t *cr = p->cr;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);

    /* Margins from measured text. */
    set_font(cr, p->font, 0);
    double tick_h = line_height(cr), ytick_w = 0;
    for (int i = 0; i < p->ay.n_ticks; i++) ytick_w = fmax(ytick_w, text_width(cr, p->ay.labels[i]));
    double last_xtick_w = p->ax.n_ticks ? text_width(cr, p->ax.labels[p->ax.n_ticks - 1]) : 0;
    set_font(cr, p->label_font, 0);
    double label_h = line_height(cr);
    set_font(cr, p->title_font, 1);
    double title_h = line_height(cr);

    p->top = (title && *title) ? p->pad + title_h + p->pad : 2 * p->pad;
    p->bottom = height - (p->tick_len + p->pad / 2 + tick_h + ((xlabel && *xlabel) ? p->pad / 2 + label_h : 0) + p->pad);
    p->left = p->pad + ((ylabel && *ylabel) ? label_h + p->pad / 2 : 0) + ytick_w + p->pad / 2 + p->tick_len;
    double right_margin = fmax(2 * p->pad, last_xtick_w / 2 + p->pad);
    if (legend_w_at_1 > 0) right_margin = fmax(right_margin, legend_w_at_1 + 2 * p->pad);
    p->right = width - right_margin;
    /* Whole pixels, so the frame and grid lines land on pixel centres (x + 0.5). */
    p->left = floor(p->left) + 0.5, p->right = floor(p->right) + 0.5;
    p->top = floor(p->top) + 0.5, p->bottom = floor(p->bottom) + 0.5;
    if (p->right - p->left < 20 || p->bottom - p->top < 20) {
        cairo_destroy(p->cr);
        cairo_surface_destroy(p->surface);
        p->cr = NULL, p->surface = NULL;
        return vae_fail(VAE_ERR_ARG, "plot '%s': %dx%d pixels leave no room for the data beside the labels", path,
                        width, height);
    }

    /* Grid at the ticks. */
    cairo_set_line_width(cr, 1.0);
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    for (int i = 0; i < p->ax.n_ticks; i++) {
        double x = floor(px_x(p, p->ax.ticks[i])) + 0.5;
        cairo_move_to(cr, x, p->top), cairo_line_to(cr, x, p->bottom);
    }
    for (int i = 0; i < p->ay.n_ticks; i++) {
        double y = floor(px_y(p, p->ay.ticks[i])) + 0.5;
        cairo_move_to(cr, p->left, y), cairo_line_to(cr, p->right, y);
    }
    cairo_stroke(cr);

    /* Ticks (outward) and their labels. */
    cairo_set_source_rgb(cr, 0, 0, 0);
    set_font(cr, p->font, 0);
    for (int i = 0; i < p->ax.n_ticks; i++) {
        double x = floor(px_x(p, p->ax.ticks[i])) + 0.5;
        cairo_move_to(cr, x, p->bottom), cairo_line_to(cr, x, p->bottom + p->tick_len);
        cairo_stroke(cr);
        draw_text(cr, p->ax.labels[i], x, p->bottom + p->tick_len + p->pad / 2 + tick_h / 2, 0.5);
    }
    for (int i = 0; i < p->ay.n_ticks; i++) {
        double y = floor(px_y(p, p->ay.ticks[i])) + 0.5;
        cairo_move_to(cr, p->left, y), cairo_line_to(cr, p->left - p->tick_len, y);
        cairo_stroke(cr);
        draw_text(cr, p->ay.labels[i], p->left - p->tick_len - p->pad / 2, y, 1.0);
    }

    /* Axis labels and title. */
    set_font(cr, p->label_font, 0);
    if (xlabel && *xlabel)
        draw_text(cr, xlabel, (p->left + p->right) / 2,
                  p->bottom + p->tick_len + p->pad / 2 + tick_h + p->pad / 2 + label_h / 2, 0.5);
    if (ylabel && *ylabel) {
        cairo_save(cr);
        cairo_translate(cr, p->pad + label_h / 2, (p->top + p->bottom) / 2);
        cairo_rotate(cr, -M_PI / 2);
        draw_text(cr, ylabel, 0, 0, 0.5);
        cairo_restore(cr);
    }
    if (title && *title) {
        set_font(cr, p->title_font, 1);
        draw_text(cr, title, (p->left + p->right) / 2, p->pad + title_h / 2, 0.5);
    }
    return VAE_OK;
}

/* Frame drawn last so data never covers it. */
static void plot_frame(plot *p) {
    cairo_t *cr = p->cr;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, p->left, p->top, p->right - p->left, p->bottom - p->top);
    cairo_stroke(cr);
}

static cairo_status_t cairo_write_cb(void *closure, const unsigned char *data, unsigned int length) {
    vae__atomic *af = closure;
    vae__atomic_write(af, data, length);
    return af->write_errno ? CAIRO_STATUS_WRITE_ERROR : CAIRO_STATUS_SUCCESS;
}

/* Check the drawing, write the PNG atomically and free everything. */
static vae_status plot_finish(plot *p, const char *path) {
    vae_status st = VAE_OK;
    cairo_status_t cs = cairo_status(p->cr);
    cairo_destroy(p->cr);
    if (cs == CAIRO_STATUS_NO_MEMORY) {
        st = vae_fail(VAE_ERR_NOMEM, "out of memory drawing '%s'", path);
    } else if (cs == CAIRO_STATUS_INVALID_STRING) {
        st = vae_fail(VAE_ERR_ARG, "plot '%s': a title, label or name is not valid UTF-8", path);
    } else if (cs != CAIRO_STATUS_SUCCESS) {
        st = vae_fail(VAE_ERR_IO, "cannot draw '%s': %s", path, cairo_status_to_string(cs));
    } else {
        cairo_surface_flush(p->surface);
        vae__atomic af;
        st = vae__atomic_open(&af, path);
        if (st == VAE_OK) {
            cs = cairo_surface_write_to_png_stream(p->surface, cairo_write_cb, &af);
            if (cs != CAIRO_STATUS_SUCCESS && !af.write_errno) {
                vae__atomic_abort(&af);
                st = cs == CAIRO_STATUS_NO_MEMORY ? vae_fail(VAE_ERR_NOMEM, "out of memory encoding '%s'", path)
                                                  : vae_fail(VAE_ERR_IO, "cannot write '%s': %s", path,
                                                             cairo_status_to_string(cs));
            } else {
                st = vae__atomic_commit(&af);
            }
        }
    }
    cairo_surface_destroy(p->surface);
    p->cr = NULL, p->surface = NULL;
    return st;
}

/* ---------------------------------------------------------------- line plots */

#define MARKERS_MAX_POINTS 100  /* above this a series is drawn as a line only (isolated points keep theirs) */

typedef struct {
    double x, y, w, h;
} rect;

static int in_rect(const rect *r, double x, double y) { return x >= r->x && x <= r->x + r->w && y >= r->y && y <= r->y + r->h; }

/* How much of the data a legend box at r would hide: points and samples along the segments inside it. */
static int legend_cover(const plot *p, const vae_plot_series *series, int n_series, const rect *r) {
    int count = 0;
    for (int s = 0; s < n_series; s++) {
        const vae_plot_series *ser = &series[s];
        for (int i = 0; i < ser->n; i++) {
            if (!isfinite(ser->x[i]) || !isfinite(ser->y[i])) continue;
            double x1 = px_x(p, ser->x[i]), y1 = px_y(p, ser->y[i]);
            count += 4 * in_rect(r, x1, y1);
            if (i + 1 < ser->n && isfinite(ser->x[i + 1]) && isfinite(ser->y[i + 1])) {
                double x2 = px_x(p, ser->x[i + 1]), y2 = px_y(p, ser->y[i + 1]);
                for (int k = 1; k < 16; k++) {
                    double t = k / 16.0;
                    count += in_rect(r, x1 + t * (x2 - x1), y1 + t * (y2 - y1));
                }
            }
        }
    }
    return count;
}

static void marker(cairo_t *cr, double x, double y, double r) {
    cairo_new_sub_path(cr);
    cairo_arc(cr, x, y, r, 0, 2 * M_PI);
}

vae_status vae_plot_lines(const char *path, const char *title, const char *xlabel, const char *ylabel,
                          const vae_plot_series *series, int n_series, int width, int height) {
    vae_status st = check_plot_args("line plot", path, width, height);
    if (st != VAE_OK) return st;
    if (n_series < 1 || !series) return vae_fail(VAE_ERR_ARG, "line plot '%s': need at least one series", path);
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    int x_integers = 1;
    for (int s = 0; s < n_series; s++) {
        const vae_plot_series *ser = &series[s];
        if (ser->n < 0 || (ser->n > 0 && (!ser->x || !ser->y)))
            return vae_fail(VAE_ERR_ARG, "line plot '%s': series %d has no data (n = %d)", path, s, ser->n);
        for (int i = 0; i < ser->n; i++) {
            if (!isfinite(ser->x[i]) || !isfinite(ser->y[i])) continue;  /* NaN points are skipped */
            x_integers &= ser->x[i] == floor(ser->x[i]);
            xlo = fmin(xlo, ser->x[i]), xhi = fmax(xhi, ser->x[i]);
            ylo = fmin(ylo, ser->y[i]), yhi = fmax(yhi, ser->y[i]);
        }
    }
    if (xlo > xhi) xlo = xhi = NAN;
    if (ylo > yhi) ylo = yhi = NAN;

    plot p;
    st = plot_begin(&p, path, width, height, xlo, xhi, ylo, yhi, title, xlabel, ylabel, 0, x_integers);
    if (st != VAE_OK) return st;
    cairo_t *cr = p.cr;
    double line_w = 2.0 * p.s, mark_r = 3.0 * p.s;

    /* Series: a line broken at non-finite points, then markers. */
    cairo_save(cr);
    cairo_rectangle(cr, p.left, p.top, p.right - p.left, p.bottom - p.top);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
    cairo_set_line_width(cr, line_w);
    for (int s = 0; s < n_series; s++) {
        const vae_plot_series *ser = &series[s];
        double rgb[3];
        vae_class_color(s, rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        int pen_down = 0;
        for (int i = 0; i < ser->n; i++) {
            if (!isfinite(ser->x[i]) || !isfinite(ser->y[i])) {
                pen_down = 0;
                continue;
            }
            double x = px_x(&p, ser->x[i]), y = px_y(&p, ser->y[i]);
            if (pen_down) cairo_line_to(cr, x, y);
            else cairo_move_to(cr, x, y);
            pen_down = 1;
        }
        cairo_stroke(cr);
        for (int i = 0; i < ser->n; i++) {
            if (!isfinite(ser->x[i]) || !isfinite(ser->y[i])) continue;
            int isolated = (i == 0 || !isfinite(ser->x[i - 1]) || !isfinite(ser->y[i - 1])) &&
                           (i + 1 == ser->n || !isfinite(ser->x[i + 1]) || !isfinite(ser->y[i + 1]));
            if (ser->n <= MARKERS_MAX_POINTS || isolated) marker(cr, px_x(&p, ser->x[i]), px_y(&p, ser->y[i]), mark_r);
        }
        cairo_fill(cr);
    }
    cairo_restore(cr);
    plot_frame(&p);

    /* Legend: one row per series (line sample with a marker, then the name), in the corner of the plot
     * area that hides the least data (upper right first on ties); none when no series has a name. */
    set_font(cr, p.font, 0);
    double row_h = line_height(cr) * 1.3, sample_w = 28 * p.s, name_w = 0;
    for (int s = 0; s < n_series; s++) name_w = fmax(name_w, text_width(cr, series[s].name ? series[s].name : ""));
    rect box = {0, 0, p.pad + sample_w + p.pad / 2 + name_w + p.pad, p.pad / 2 + n_series * row_h + p.pad / 2};
    if (name_w > 0 && box.w < p.right - p.left - 2 * p.pad && box.h < p.bottom - p.top - 2 * p.pad) {
        double xs[4] = {p.right - p.pad - box.w, p.left + p.pad, p.left + p.pad, p.right - p.pad - box.w};
        double ys[4] = {p.top + p.pad, p.top + p.pad, p.bottom - p.pad - box.h, p.bottom - p.pad - box.h};
        int best = 0, best_cover = -1;
        for (int k = 0; k < 4; k++) {
            rect r = {xs[k], ys[k], box.w, box.h};
            int cover = legend_cover(&p, series, n_series, &r);
            if (best_cover < 0 || cover < best_cover) best = k, best_cover = cover;
        }
        box.x = floor(xs[best]) + 0.5, box.y = floor(ys[best]) + 0.5;
        cairo_rectangle(cr, box.x, box.y, box.w, box.h);
        cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
        cairo_fill_preserve(cr);
        cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
        cairo_set_line_width(cr, 1.0);
        cairo_stroke(cr);
        for (int s = 0; s < n_series; s++) {
            double rgb[3];
            vae_class_color(s, rgb);
            double y = box.y + p.pad / 2 + (s + 0.5) * row_h, x = box.x + p.pad;
            cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
            cairo_set_line_width(cr, line_w);
            cairo_move_to(cr, x, y), cairo_line_to(cr, x + sample_w, y);
            cairo_stroke(cr);
            if (series[s].n <= MARKERS_MAX_POINTS) {
                marker(cr, x + sample_w / 2, y, mark_r);
                cairo_fill(cr);
            }
            cairo_set_source_rgb(cr, 0, 0, 0);
            draw_text(cr, series[s].name ? series[s].name : "", x + sample_w + p.pad / 2, y, 0.0);
        }
    }
    return plot_finish(&p, path);
}

/* ---------------------------------------------------------------- scatter plots */

#define LEGEND_MAX_ENTRIES 20
#define LEGEND_DOT_R 5.0  /* legend dot radius at 800x600 */
#define LEGEND_GAP 6.0    /* between dot and text */

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

vae_status vae_plot_scatter(const char *path, const char *title, const char *xlabel, const char *ylabel,
                            const float *x, const float *y, const int *labels, int n, int width, int height) {
    vae_status st = check_plot_args("scatter plot", path, width, height);
    if (st != VAE_OK) return st;
    if (n < 0 || (n > 0 && (!x || !y))) return vae_fail(VAE_ERR_ARG, "scatter plot '%s': no points (n = %d)", path, n);

    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        xlo = fmin(xlo, x[i]), xhi = fmax(xhi, x[i]);
        ylo = fmin(ylo, y[i]), yhi = fmax(yhi, y[i]);
    }
    if (xlo > xhi) xlo = xhi = NAN;
    if (ylo > yhi) ylo = yhi = NAN;

    /* The classes present, sorted (legend rows); with more than LEGEND_MAX_ENTRIES the last row says so. */
    int classes[LEGEND_MAX_ENTRIES], n_classes = 0, more = 0;
    if (labels && n > 0) {
        int *sorted = vae_malloc((size_t)n * sizeof *sorted);
        if (!sorted) return vae_fail(VAE_ERR_NOMEM, "out of memory for scatter plot '%s'", path);
        memcpy(sorted, labels, (size_t)n * sizeof *sorted);
        qsort(sorted, (size_t)n, sizeof *sorted, cmp_int);
        for (int i = 0; i < n; i++) {
            if (i > 0 && sorted[i] == sorted[i - 1]) continue;
            if (n_classes < LEGEND_MAX_ENTRIES - 1) classes[n_classes++] = sorted[i];
            else more++;
        }
        if (more == 1) classes[n_classes++] = sorted[n - 1], more = 0;  /* exactly 20: show the last one */
        vae_mem_free(sorted);
    }

    plot p;
    double s = plot_scale(width, height), legend_w = 0;
    char text[LEGEND_MAX_ENTRIES + 1][32];
    int n_rows = n_classes + (more > 0);
    for (int k = 0; k < n_classes; k++) snprintf(text[k], sizeof text[k], "%d", classes[k]);
    if (more) snprintf(text[n_classes], sizeof text[0], "+%d more", more);
    if (n_rows > 0) {
        /* Measure with a 1x1 surface: plot_begin needs the width before it lays out the frame. */
        cairo_surface_t *tmp = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
        cairo_t *tcr = cairo_create(tmp);
        set_font(tcr, FONT_SIZE * s, 0);
        double w = text_width(tcr, "class");  /* the heading; rows are a dot (2 * dot_r), a gap, the text */
        for (int k = 0; k < n_rows; k++) w = fmax(w, 2 * LEGEND_DOT_R * s + LEGEND_GAP * s + text_width(tcr, text[k]));
        int bad = cairo_status(tcr) != CAIRO_STATUS_SUCCESS;
        cairo_destroy(tcr);
        cairo_surface_destroy(tmp);
        if (bad) return vae_fail(VAE_ERR_NOMEM, "out of memory for scatter plot '%s'", path);
        legend_w = PAD * s + w + PAD * s;
    }

    st = plot_begin(&p, path, width, height, xlo, xhi, ylo, yhi, title, xlabel, ylabel, legend_w, 0);
    if (st != VAE_OK) return st;
    cairo_t *cr = p.cr;

    /* Points in the given order (so no class is always on top), translucent, small: 10,000 of them
     * must not merge into one blob. */
    double r = 1.8 * p.s;
    cairo_save(cr);
    cairo_rectangle(cr, p.left, p.top, p.right - p.left, p.bottom - p.top);
    cairo_clip(cr);
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) continue;
        double rgb[3];
        vae_class_color(labels ? labels[i] : 0, rgb);
        cairo_set_source_rgba(cr, rgb[0], rgb[1], rgb[2], 0.6);
        cairo_arc(cr, px_x(&p, x[i]), px_y(&p, y[i]), r, 0, 2 * M_PI);
        cairo_fill(cr);
    }
    cairo_restore(cr);
    plot_frame(&p);

    /* Legend outside the plot area on the right, top-aligned: a heading, then a dot and the class per row. */
    if (n_rows > 0) {
        set_font(cr, p.font, 0);
        double row_h = line_height(cr) * 1.4;
        double bx = p.right + p.pad, by = p.top;
        double dot_r = LEGEND_DOT_R * p.s;
        cairo_set_source_rgb(cr, 0, 0, 0);
        draw_text(cr, "class", bx + p.pad, by + row_h / 2, 0.0);
        for (int k = 0; k < n_rows; k++) {
            double yk = by + (k + 1.5) * row_h;
            if (k < n_classes) {
                double rgb[3];
                vae_class_color(classes[k], rgb);
                cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
                cairo_arc(cr, bx + p.pad + dot_r, yk, dot_r, 0, 2 * M_PI);
                cairo_fill(cr);
            }
            cairo_set_source_rgb(cr, 0, 0, 0);
            draw_text(cr, text[k], bx + p.pad + 2 * dot_r + LEGEND_GAP * p.s, yk, 0.0);
        }
    }
    return plot_finish(&p, path);
}
